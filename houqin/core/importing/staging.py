"""Uploaded files waiting between preview and commit.

The file is kept on the server under ``DATA_DIR/imports/<random id>/`` (never in a web-served folder) with a
small ``meta.json`` naming the importer, the user and the school it was uploaded for, the column mapping and the
import options chosen on the preview page.
The id is also recorded in the uploader's session: another user — or the same user working in another
school — gets a 404 for it. Staged files older than a day are deleted.

"确认导入" does not write anything in the request: it enqueues the background job
``houqin.core.importing.tasks.run_import`` and records its id in ``meta.json`` (``job_id``). The ``Job`` row is
then the authority on how the import is going; the job marks the staged upload done (and deletes the file) when
it has committed.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from django.conf import settings
from django.http import Http404

from houqin.core.importing.errors import ImportFileError
from houqin.core.importing.limits import Limits
from houqin.core.importing.reading import sniff_extension

SESSION_KEY = "houqin_imports"
MAX_PER_SESSION = 20


def stage_root() -> Path:
    return Path(settings.DATA_DIR) / "imports"


class StagedStatus:
    STAGED = "staged"
    DONE = "done"


@dataclass
class StagedImport:
    token: str
    importer: str
    user_id: int
    org_id: int
    filename: str
    ext: str
    created: float
    header_index: int | None = None
    mapping: dict[str, str] | None = None  # column index (as text, for JSON) → field name
    options: dict | None = None  # import options chosen on the preview page (name → value)
    status: str = StagedStatus.STAGED
    result: dict | None = None
    job_id: int | None = None  # the background job committing it (the latest attempt)
    attempt: int = 0  # how many times "确认导入" enqueued a job for it

    @property
    def directory(self) -> Path:
        return stage_root() / self.token

    @property
    def file_path(self) -> Path:
        return self.directory / f"upload{self.ext}"

    @property
    def column_mapping(self) -> dict[int, str] | None:
        if self.mapping is None:
            return None
        return {int(k): v for k, v in self.mapping.items()}

    def set_mapping(self, mapping: dict[int, str]) -> None:
        self.mapping = {str(k): v for k, v in sorted(mapping.items())}

    def save(self) -> None:
        tmp = self.directory / "meta.json.tmp"
        tmp.write_text(json.dumps(asdict(self), ensure_ascii=False), encoding="utf-8")
        tmp.replace(self.directory / "meta.json")

    def remove_file(self) -> None:
        self.file_path.unlink(missing_ok=True)

    def claim_attempt(self) -> bool:
        """Claim the next commit attempt (creates ``commit-<n>.claim`` exclusively). Of two requests that read
        the same ``meta.json`` — a double click on "确认导入" — only one gets True and enqueues a job."""
        try:
            fd = os.open(self.directory / f"commit-{self.attempt + 1}.claim", os.O_CREAT | os.O_EXCL | os.O_WRONLY,
                         0o600)
        except FileExistsError:
            return False
        os.close(fd)
        self.attempt += 1
        return True


def stage_upload(request, importer_key: str, uploaded, limits: Limits | None = None) -> StagedImport:
    """Store an uploaded file for ``request.user`` in ``request.org``. Raises ImportFileError."""
    limits = limits or Limits.from_settings()
    cleanup_stale(limits.max_age_s)
    if uploaded.size is not None and uploaded.size > limits.max_bytes:
        raise ImportFileError(f"文件超过 {limits.max_bytes_display} 的上限，请分成几个文件导入。")
    if uploaded.size == 0:
        raise ImportFileError("上传的文件是空的。")
    uploaded.seek(0)
    head = uploaded.read(8)
    uploaded.seek(0)
    ext = sniff_extension(head, uploaded.name)
    token = str(uuid.uuid4())
    staged = StagedImport(token=token, importer=importer_key, user_id=request.user.pk, org_id=request.org.pk,
                          filename=Path(uploaded.name or "").name[:120], ext=ext, created=time.time())
    staged.directory.mkdir(parents=True, mode=0o700)
    written = 0
    try:
        with open(staged.file_path, "xb") as out:
            for chunk in uploaded.chunks():
                written += len(chunk)
                if written > limits.max_bytes:
                    raise ImportFileError(f"文件超过 {limits.max_bytes_display} 的上限，请分成几个文件导入。")
                out.write(chunk)
        staged.save()
    except BaseException:
        shutil.rmtree(staged.directory, ignore_errors=True)
        raise
    tokens = dict(request.session.get(SESSION_KEY, {}))
    tokens[token] = importer_key
    for old in list(tokens)[:-MAX_PER_SESSION]:
        tokens.pop(old, None)
    request.session[SESSION_KEY] = tokens
    return staged


def load_staged(request, token: str, importer_key: str, limits: Limits | None = None) -> StagedImport:
    """The staged upload ``token`` if it belongs to this user, this school and this importer; else 404."""
    limits = limits or Limits.from_settings()
    if request.session.get(SESSION_KEY, {}).get(token) != importer_key:
        raise Http404
    try:
        meta = json.loads((stage_root() / token / "meta.json").read_text(encoding="utf-8"))
        staged = StagedImport(**meta)
    except (OSError, ValueError, TypeError):
        raise Http404 from None
    org = getattr(request, "org", None)
    if (staged.token != token or staged.importer != importer_key or staged.user_id != request.user.pk
            or not org or staged.org_id != org.pk):
        raise Http404
    if time.time() - staged.created > limits.max_age_s:
        discard(request, staged)
        raise Http404
    return staged


def staged_by_token(token: str) -> StagedImport:
    """A staged upload by its id, without a request (for a background job the view started after checking
    ownership with ``load_staged``). Raises ImportFileError if it is gone."""
    try:
        uuid.UUID(token)
        meta = json.loads((stage_root() / token / "meta.json").read_text(encoding="utf-8"))
        return StagedImport(**meta)
    except (OSError, ValueError, TypeError):
        raise ImportFileError("上传的文件已过期或被清理，请重新上传。") from None


def discard(request, staged: StagedImport) -> None:
    shutil.rmtree(staged.directory, ignore_errors=True)
    tokens = dict(request.session.get(SESSION_KEY, {}))
    if tokens.pop(staged.token, None) is not None:
        request.session[SESSION_KEY] = tokens


def cleanup_stale(max_age_s: int | None = None) -> int:
    """Delete staged uploads older than ``max_age_s`` (default: the limit); returns how many."""
    max_age_s = Limits.from_settings().max_age_s if max_age_s is None else max_age_s
    root = stage_root()
    if not root.is_dir():
        return 0
    cutoff = time.time() - max_age_s
    removed = 0
    for directory in root.iterdir():
        try:
            if directory.is_dir() and directory.stat().st_mtime < cutoff:
                shutil.rmtree(directory, ignore_errors=True)
                removed += 1
        except OSError:
            continue
    return removed
