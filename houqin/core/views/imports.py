"""Pages of a staged import: upload → column mapping and preview → commit → progress and result, plus the
template.

"确认导入" never writes in the request: it enqueues the background job ``run_import``
(``houqin.core.importing.tasks``) and sends the user to the result page, which shows the job's progress bar
(polled with HTMX) until the job has finished, then its summary or its reasons for refusing the file.

``import_urls(importer, "import/locations", "import_locations")`` gives the URL patterns for one importer;
a domain app adds the same line to its own ``urls.py`` for its importers.
"""

from __future__ import annotations

import logging
from urllib.parse import quote

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.db import OperationalError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, path, reverse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt, csrf_protect

from houqin.core import jobs
from houqin.core.exporting import XLSX
from houqin.core.importing import Limits, validate
from houqin.core.importing.base import Importer, ImportResult
from houqin.core.importing.errors import ImportFileError
from houqin.core.importing.locations import LocationImporter
from houqin.core.importing.mapping import ImportData, load_data, mapping_errors
from houqin.core.importing.options import clean_options, form_values, options_form
from houqin.core.importing.staging import StagedImport, StagedStatus, discard, load_staged, stage_upload
from houqin.core.importing.tasks import run_import
from houqin.core.importing.template import build_template
from houqin.core.importing.values import cell_text
from houqin.core.models.jobs import Job, JobStatus
from houqin.core.views.generic import render_page

logger = logging.getLogger(__name__)

MAX_ERRORS_SHOWN = 500
SAMPLE_ROWS = 3


class _UploadSizeLimit(FileUploadHandler):
    """Stops reading an upload as soon as it passes the size limit (before it fills the temporary folder)."""

    def __init__(self, request, limit: int):
        super().__init__(request)
        self.limit = limit

    def receive_data_chunk(self, raw_data, start):
        if start + len(raw_data) > self.limit:
            self.request.houqin_upload_too_large = True
            raise StopUpload(connection_reset=False)
        return raw_data

    def file_complete(self, file_size):
        return None


class ImportView(LoginRequiredMixin, View):
    importer: type[Importer] = None
    url_name = ""  # the upload page's URL name; the others add _template, _preview, _commit, _done, _cancel

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        if not self.importer.can_import(request.user, getattr(request, "org", None)):
            raise PermissionDenied(f"您没有在当前单位导入{self.importer.title}的权限。")
        self.limits = Limits.from_settings()
        return super().dispatch(request, *args, **kwargs)

    def url(self, suffix: str = "", token: str | None = None) -> str:
        namespace = self.request.resolver_match.namespace if self.request.resolver_match else ""
        name = f"{namespace}:{self.url_name}{suffix}" if namespace else f"{self.url_name}{suffix}"
        return reverse(name, kwargs={"token": token} if token else None)

    def context(self, **extra) -> dict:
        importer = self.importer
        try:
            list_url = reverse(importer.list_url_name) if importer.list_url_name else None
        except NoReverseMatch:
            list_url = None
        return {
            "importer": importer,
            "title": f"导入{importer.title}",
            "model_plural": str(importer.model._meta.verbose_name_plural),
            "upload_url": self.url(),
            "template_url": self.url("_template"),
            "list_url": list_url,
            "limits": self.limits,
            **extra,
        }

    def staged(self, token) -> StagedImport:
        return load_staged(self.request, str(token), self.importer.key, self.limits)

    def load(self, staged: StagedImport) -> ImportData:
        try:
            return load_data(staged.file_path, staged.ext, self.importer.fields, header_index=staged.header_index,
                             mapping=staged.column_mapping, limits=self.limits)
        except OSError:
            raise ImportFileError("上传的文件已被清理，请重新上传。") from None

    def refused(self, staged: StagedImport, exc: ImportFileError):
        discard(self.request, staged)
        messages.error(self.request, exc.message)
        return redirect(self.url())

    def job_of(self, staged: StagedImport) -> Job | None:
        """The background job of the latest "确认导入" (None before the first one, or if it is not visible)."""
        if staged.job_id is None:
            return None
        return Job.objects.restrict(self.request.user).filter(pk=staged.job_id).first()

    def committing(self, staged: StagedImport) -> bool:
        """True while a job is importing the file, and once it has: the preview and the commit step aside."""
        if staged.status == StagedStatus.DONE:
            return True
        job_row = self.job_of(staged)
        return job_row is not None and job_row.status in (JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.SUCCEEDED)


@method_decorator(csrf_exempt, name="dispatch")  # checked in post(), after the upload size limit is in place
class ImportUploadView(ImportView):
    template_name = "core/import_upload.html"

    def get(self, request, *args, **kwargs):
        return render(request, self.template_name, self.context())

    def post(self, request, *args, **kwargs):
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared > self.limits.max_bytes + 64 * 1024:  # refused before reading the body
            return self.error(self.too_large())
        request.upload_handlers.insert(0, _UploadSizeLimit(request, self.limits.max_bytes))
        return self._post(request)

    @method_decorator(csrf_protect)
    def _post(self, request):
        uploaded = request.FILES.get("file")
        if getattr(request, "houqin_upload_too_large", False):
            return self.error(self.too_large())
        if uploaded is None:
            return self.error("请选择要导入的文件（.xlsx 或 .csv）。")
        try:
            staged = stage_upload(request, self.importer.key, uploaded, self.limits)
        except ImportFileError as exc:
            return self.error(exc.message)
        try:
            data = self.load(staged)
        except ImportFileError as exc:
            discard(request, staged)
            return self.error(exc.message)
        except Exception:  # a file no check foresaw must still get an answer, not a 500
            logger.exception("Import upload could not be read")
            discard(request, staged)
            return self.error("无法读取该文件，请在 Excel 中打开并重新保存后再上传。")
        staged.header_index = data.header_index
        staged.set_mapping(data.mapping)
        staged.save()
        return redirect(self.url("_preview", staged.token))

    def too_large(self) -> str:
        return f"文件超过 {self.limits.max_bytes_display} 的上限，请分成几个文件导入。"

    def error(self, message: str):
        messages.error(self.request, message)
        return render(self.request, self.template_name, self.context(), status=400)


class ImportTemplateView(ImportView):
    def get(self, request, *args, **kwargs):
        content = build_template(self.importer, self.limits)
        filename = f"{self.importer.title}导入模板.xlsx"
        response = HttpResponse(content, content_type=XLSX)
        response["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(filename)}"
        return response


class ImportPreviewView(ImportView):
    template_name = "core/import_preview.html"

    def get(self, request, token, *args, **kwargs):
        staged = self.staged(token)
        if self.committing(staged):
            return redirect(self.url("_done", staged.token))
        try:
            data = self.load(staged)
        except ImportFileError as exc:
            return self.refused(staged, exc)
        return self.show(staged, data)

    def post(self, request, token, *args, **kwargs):
        """Apply the column mapping (or header row), or the import options, chosen on the page."""
        staged = self.staged(token)
        if self.committing(staged):
            return redirect(self.url("_done", staged.token))
        if "apply_options" in request.POST:
            return self.apply_options(staged)
        try:
            data = self.load(staged)
        except ImportFileError as exc:
            return self.refused(staged, exc)
        header_row = request.POST.get("header_row", "").strip()
        if header_row and header_row != str(data.header_row):
            return self.change_header_row(staged, header_row)
        names = {f.name for f in self.importer.fields}
        mapping = {}
        for index in range(len(data.headers)):
            value = request.POST.get(f"col_{index}", "")
            if value in names:
                mapping[index] = value
        staged.set_mapping(mapping)
        staged.save()
        messages.info(request, "已按您选择的对应关系重新检查。")
        return redirect(self.url("_preview", staged.token))

    def apply_options(self, staged: StagedImport):
        form = options_form(self.importer.options_declared(), self.request.user, self.request.org, {},
                            data=self.request.POST)
        if form is None:
            return redirect(self.url("_preview", staged.token))
        if not form.is_valid():
            messages.error(self.request, "导入选项有误，请重新选择。")
            return redirect(self.url("_preview", staged.token))
        staged.options = {**(staged.options or {}), **form_values(form)}
        staged.save()
        messages.info(self.request, "已按所选的导入选项重新检查。")
        return redirect(self.url("_preview", staged.token))

    def change_header_row(self, staged: StagedImport, header_row: str):
        from houqin.core.importing.reading import read_sheet

        try:
            wanted = int(header_row)
            sheet = read_sheet(staged.file_path, staged.ext, self.limits)
        except ValueError:
            messages.error(self.request, "表头所在行应填写行号（数字）。")
            return redirect(self.url("_preview", staged.token))
        except ImportFileError as exc:
            return self.refused(staged, exc)
        index = next((i for i, (number, _) in enumerate(sheet.rows) if number == wanted), None)
        if index is None:
            messages.error(self.request, f"第 {wanted} 行不存在或是空行。")
            return redirect(self.url("_preview", staged.token))
        staged.header_index = index
        staged.mapping = None  # recognised again from the new header row
        staged.save()
        messages.info(self.request, f"已把第 {wanted} 行作为表头。")
        return redirect(self.url("_preview", staged.token))

    def show(self, staged: StagedImport, data: ImportData):
        problems = mapping_errors(data.mapping, self.importer.fields, data)
        user, org = self.request.user, self.request.org
        result = None if problems else validate(self.importer, data, user, org, options=staged.options)
        declared = self.importer.options_declared()
        values, _ = clean_options(declared, staged.options, user, org)
        form = options_form(declared, user, org, values)
        shown = [f for f in form if f.field.show == "always" or (result and result.missing)] if form else []
        context = self.context(
            staged=staged,
            data=data,
            columns=self.columns(data),
            field_options=[(f.name, f.header) for f in self.importer.fields],
            mapping_problems=problems,
            unknown_columns=data.unknown_columns(),
            result=result,
            errors=result.errors[:MAX_ERRORS_SHOWN] if result else [],
            more_errors=max(len(result.errors) - MAX_ERRORS_SHOWN, 0) if result else 0,
            can_commit=bool(result and result.ok and not problems and result.total),
            option_fields=shown,
            preview_url=self.url("_preview", staged.token),
            commit_url=self.url("_commit", staged.token),
            cancel_url=self.url("_cancel", staged.token),
            last_job=self.job_of(staged),  # only a failed or cancelled one gets here
        )
        return render(self.request, self.template_name, context)

    @staticmethod
    def columns(data: ImportData) -> list[dict]:
        columns = []
        for index, header in enumerate(data.headers):
            samples = [cell_text(cells[index]) for _, cells in data.rows[:SAMPLE_ROWS] if index < len(cells)]
            if not header and not any(samples):
                continue
            columns.append({"index": index, "name": data.column_name(index), "header": header,
                            "field": data.mapping.get(index, ""), "samples": [s for s in samples if s]})
        return columns


class ImportCommitView(ImportView):
    """"确认导入": enqueue the background job that commits the file, then show its progress. Nothing is
    written here; the job checks every row again and writes all of them or none."""

    def get(self, request, token, *args, **kwargs):
        staged = self.staged(token)  # 404 for anyone but its owner, as for the other pages
        return redirect(self.url("_preview", staged.token))

    def post(self, request, token, *args, **kwargs):
        staged = self.staged(token)
        done_url = self.url("_done", staged.token)
        if self.committing(staged):  # a second click: the import is under way or done
            return redirect(done_url)
        if not staged.file_path.is_file():
            return self.refused(staged, ImportFileError("上传的文件已被清理，请重新上传。"))
        if not staged.claim_attempt():  # a double click that read the same state: the other request enqueues
            return redirect(done_url)
        job_row = run_import.enqueue(
            user=request.user, org=request.org, title=f"导入{self.importer.title}：{staged.filename}",
            token=staged.token, importer=self.importer.key, done_url=done_url,
        )
        staged.job_id = job_row.pk
        staged.save()
        return redirect(done_url)


class ImportDoneView(ImportView):
    """The import's progress (polled with HTMX while its job is queued or running), then its result."""

    template_name = "core/import_done.html"

    def get(self, request, token, *args, **kwargs):
        staged = self.staged(token)
        job_row = self.job_of(staged)
        if job_row is None:
            if staged.status == StagedStatus.DONE:  # its job is no longer kept
                raise Http404
            return redirect(self.url("_preview", staged.token))
        return render_page(request, self.template_name, self.progress_context(staged, job_row), partial="progress")

    def progress_context(self, staged: StagedImport, job_row: Job) -> dict:
        # The job counts 2 × rows steps: each row checked, then each row checked again and saved in one
        # transaction (on SQLite that second half shows only when the transaction commits).
        rows = job_row.total // 2 if job_row.total else 0
        stage = ""
        if job_row.status == JobStatus.RUNNING and rows:
            if job_row.done < rows:
                stage = f"正在检查：第 {job_row.done} / {rows} 行"
            elif job_row.done == rows:
                stage = f"检查通过，正在保存 {rows} 行"
            else:
                stage = f"正在保存：第 {job_row.done - rows} / {rows} 行"
        payload = job_row.result.get("import") if isinstance(job_row.result, dict) else None
        succeeded = job_row.status == JobStatus.SUCCEEDED
        return self.context(
            staged=staged,
            job=job_row,
            rows=rows,
            stage=stage,
            result=ImportResult.from_dict(payload) if succeeded and payload else None,
            error_lines=job_row.error.splitlines() if job_row.status == JobStatus.FAILED else [],
            worker_running=True if job_row.is_finished else jobs.worker_is_running(),
            no_worker_message=jobs.NO_WORKER_MESSAGE,
            can_cancel=job_row.status == JobStatus.QUEUED,
            done_url=self.url("_done", staged.token),
            preview_url=self.url("_preview", staged.token),
            cancel_url=self.url("_cancel", staged.token),
        )


class ImportCancelView(ImportView):
    """Forget the staged upload. An import whose job is still queued is cancelled first; one that is running
    is left to finish (it writes all rows or none)."""

    def post(self, request, token, *args, **kwargs):
        staged = self.staged(token)
        job_row = self.job_of(staged)
        if job_row is not None and job_row.status == JobStatus.RUNNING:
            messages.info(request, "导入正在进行，无法取消，请等待完成。")
            return redirect(self.url("_done", staged.token))
        if job_row is not None and job_row.status == JobStatus.QUEUED:
            try:
                cancelled = jobs.cancel(job_row, by=request.user)
            except OperationalError:  # SQLite busy beyond its timeout while another import writes
                messages.error(request, "系统繁忙，请稍后再试。")
                return redirect(self.url("_done", staged.token))
            if not cancelled:  # it finished (or started) in the meantime
                return redirect(self.url("_done", staged.token))
            job_row.status = JobStatus.CANCELLED
        imported = staged.status == StagedStatus.DONE or (job_row is not None and
                                                          job_row.status == JobStatus.SUCCEEDED)
        discard(request, staged)
        if not imported:
            messages.info(request, "已取消本次导入，没有写入任何数据。")
        return redirect(self.url())


def import_urls(importer: type[Importer], prefix: str, name: str) -> list:
    """URL patterns of one importer's pages under ``prefix`` (e.g. "import/locations"), named ``name``…"""
    def view(cls):
        return cls.as_view(importer=importer, url_name=name)

    return [
        path(f"{prefix}/", view(ImportUploadView), name=name),
        path(f"{prefix}/template/", view(ImportTemplateView), name=f"{name}_template"),
        path(f"{prefix}/<uuid:token>/", view(ImportPreviewView), name=f"{name}_preview"),
        path(f"{prefix}/<uuid:token>/commit/", view(ImportCommitView), name=f"{name}_commit"),
        path(f"{prefix}/<uuid:token>/done/", view(ImportDoneView), name=f"{name}_done"),
        path(f"{prefix}/<uuid:token>/cancel/", view(ImportCancelView), name=f"{name}_cancel"),
    ]


urlpatterns = import_urls(LocationImporter, "import/locations", "import_locations")
