"""The background job that commits a staged import.

"确认导入" enqueues ``run_import`` with the staged upload's id; a worker (``houqin worker``) runs it as the user
who clicked, in the school the file was uploaded for, with the import options stored with the upload. The job
reads the file again, checks every row again (the data may have changed since the preview) outside any
transaction, then ``commit()`` validates and writes all rows in one transaction. On any error nothing is
written and the job fails with the reasons in Chinese.

Progress: ``2 × rows`` steps — the rows checked (first half), then re-checked and saved in the transaction
(second half). On SQLite the second half becomes visible when the transaction commits.
"""

from __future__ import annotations

import logging

from houqin.core.importing.base import ImportResult, RowError, commit, validate
from houqin.core.importing.errors import ImportFileError
from houqin.core.importing.mapping import load_data, mapping_errors
from houqin.core.importing.registry import get_importer
from houqin.core.importing.staging import StagedStatus, staged_by_token
from houqin.core.jobs import JobError, job
from houqin.core.models.jobs import Job, JobStatus

logger = logging.getLogger(__name__)

MAX_REASONS = 10  # in the job's error message; the preview lists them all


def error_lines(errors: list[RowError], limit: int = MAX_REASONS) -> list[str]:
    """"第 4 行 G 列「面积(㎡)」：…" per error, at most ``limit`` (then how many more)."""
    lines = []
    for e in errors[:limit]:
        where = f"第 {e.row} 行" if e.row else ""
        if e.column:
            where = f"{where} {e.column}".strip()
        lines.append(f"{where}：{e.message}" if where else e.message)
    if len(errors) > limit:
        lines.append(f"……另有 {len(errors) - limit} 处错误。")
    return lines


def failure_message(result: ImportResult) -> str:
    head = (f"有 {result.error_rows} 行数据有误，没有导入任何数据。" if any(e.row for e in result.errors)
            else "无法导入，没有写入任何数据。")
    return "\n".join([head, *error_lines(result.errors)])


def summary_message(result: ImportResult) -> str:
    return f"导入完成：新增 {result.created} 条，更新 {result.updated} 条，无变化 {result.unchanged} 条。"


class _Progress:
    """Maps the two passes onto one bar of ``2 × rows`` steps."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.rows = 0

    def checking(self, done: int, total: int) -> None:
        self.rows = total
        self.ctx.progress(done, total * 2)

    def saving(self, done: int, total: int) -> None:
        if total and self.rows:
            self.ctx.progress(self.rows + done * self.rows // total, self.rows * 2)


@job("导入数据")
def run_import(ctx, *, token: str, importer: str, done_url: str = "") -> dict:
    """Commit the staged upload ``token`` with the importer registered as ``importer``."""
    from houqin.core.models import Organization

    try:
        staged = staged_by_token(token)
    except ImportFileError as exc:
        raise JobError(exc.message) from None
    # The view checked ownership before enqueueing; the job trusts only what its own row says.
    if (staged.importer != importer or ctx.user is None or staged.user_id != ctx.user.pk
            or staged.org_id != ctx.org_id):
        raise JobError("导入任务与上传的文件不一致，请重新上传。")
    if staged.status == StagedStatus.DONE:
        raise JobError("该文件已经导入，请勿重复提交。")
    others = Job.objects.filter(name=run_import.name, kwargs__token=token).exclude(pk=ctx.job_id)
    if others.filter(status__in=(JobStatus.RUNNING, JobStatus.SUCCEEDED)).exists():
        raise JobError("该文件已在导入或已经导入，请勿重复提交。")
    importer_class = get_importer(staged.importer)
    org = Organization.objects.get(pk=ctx.org_id)

    ctx.log(f"读取文件“{staged.filename}”")
    try:
        data = load_data(staged.file_path, staged.ext, importer_class.fields, header_index=staged.header_index,
                         mapping=staged.column_mapping)
    except ImportFileError as exc:
        raise JobError(exc.message) from None
    except OSError:
        raise JobError("上传的文件已被清理，请重新上传。") from None
    problems = mapping_errors(data.mapping, importer_class.fields, data)
    if problems:
        raise JobError("\n".join(["列的对应关系有误，没有导入任何数据。", *problems]))

    progress = _Progress(ctx)
    ctx.log("逐行检查数据")
    checked = validate(importer_class, data, ctx.user, org, progress=progress.checking, options=staged.options)
    if not checked.ok:
        ctx.log(f"检查未通过：{checked.error_rows} 行有错误")
        raise JobError(failure_message(checked))
    if not checked.total:
        raise JobError("表头下方没有数据行，没有导入任何数据。")

    ctx.log(f"检查通过，共 {checked.total} 行；开始保存")
    result = commit(importer_class, data, ctx.user, org, progress=progress.saving, options=staged.options)
    if not result.committed:
        raise JobError(failure_message(result))

    try:  # the rows are in; the staged upload only needs to know (it may have been cancelled meanwhile)
        staged.status = StagedStatus.DONE
        staged.remove_file()
        staged.save()
    except OSError:
        logger.warning("Import %s committed, but its staged upload could not be marked done", token)
    message = summary_message(result)
    ctx.log(message)
    return {"message": message, "url": done_url, "import": result.to_dict()}
