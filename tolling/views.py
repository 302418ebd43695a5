"""Upload pages: upload a file, follow it live, browse the province's history, download files."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from piaogen.access import ALL_ROLES, role_required, scoped
from piaogen.models import Role, User
from tolling import contract
from tolling.filters import UploadBatchFilter
from tolling.models import UploadBatch, UploadKind, UploadMode, UploadStatus
from tolling.selectors import batch_rate, batches_for, error_file_response
from tolling.services import upload_can_write, upload_cancel, upload_create

UPLOADERS = (Role.PROVINCE, Role.MAINTAINER)


class UploadForm(forms.Form):
    kind = forms.ChoiceField(label=gettext_lazy("数据类型"), choices=UploadKind.choices)
    file = forms.FileField(label=gettext_lazy("文件"), help_text=gettext_lazy("CSV 或 XLSX，UTF-8 或 GB18030 编码"))
    province = forms.CharField(label=gettext_lazy("省份代码"), required=False, max_length=2)
    mode = forms.ChoiceField(
        label=gettext_lazy("上传方式"),
        choices=UploadMode.choices,
        initial=UploadMode.APPEND,
        required=False,  # a form without it (older pages, scripts) appends
        help_text=gettext_lazy("更正：已上传且尚未开票的行按主键替换为文件中的数据；已开票的行不能更正"),
    )


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


def batch_for(user: User, batch_id: int) -> UploadBatch:
    """A batch the user may see (their province's, or any for national roles); 404 otherwise."""
    return get_object_or_404(batches_for(user), pk=batch_id)


def _render_list(request: HttpRequest, user: User, form: UploadForm | None, status: int = 200) -> HttpResponse:
    """The batch history (filtered, paginated) with the upload form for those who may upload."""
    batches = UploadBatchFilter(request.GET, queryset=scoped(UploadBatch.objects.all(), user))
    page = Paginator(batches.qs.select_related("uploaded_by").order_by("-created_at"), 50).get_page(
        request.GET.get("page")
    )
    context = {
        "filter": batches,
        "page": page,
        "form": form,
        "kinds": UploadKind.choices,
        "needs_province": user.province_scope is None,
        "limits": contract.upload_limits(),  # the upload help (tolling/reading.py's limits)
    }
    return render(request, "tolling/upload_list.html", context, status=status)


@role_required(*ALL_ROLES)
def upload_list(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    return _render_list(request, user, UploadForm() if user.has_role(*UPLOADERS) else None)


@require_POST
@role_required(*UPLOADERS)
def upload_create_view(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    form = UploadForm(request.POST, request.FILES)
    if form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            batch = upload_create(
                user=user,
                kind=form.cleaned_data["kind"],
                file=upload,
                file_name=upload.name,
                province=form.cleaned_data["province"] or None,
                request=request,
                mode=form.cleaned_data["mode"] or UploadMode.APPEND,
            )
        except (ValidationError, PermissionDenied) as exc:
            form.add_error("file", exc.messages if isinstance(exc, ValidationError) else str(exc))
        else:
            return redirect("upload-detail", batch_id=batch.pk)
    return _render_list(request, user, form, status=400)


def _progress_context(batch: UploadBatch) -> dict[str, object]:
    rate = batch_rate(batch)
    eta = None
    if rate and batch.status == UploadStatus.RUNNING and batch.rows_total > batch.rows_done:
        eta = timedelta(seconds=int((batch.rows_total - batch.rows_done) / rate))
    percent = min(100, int(100 * batch.rows_done / batch.rows_total)) if batch.rows_total else None
    live = batch.status in (UploadStatus.QUEUED, UploadStatus.RUNNING)
    return {
        "batch": batch,
        "rejected_rows": batch.rejected_rows.order_by("line_no")[:20] if batch.rows_rejected and not live else [],
        "rate": rate,
        "eta": eta,
        "percent": percent,
        "live": live,
    }


@require_GET
@role_required(*ALL_ROLES)
def upload_detail(request: HttpRequest, batch_id: int) -> HttpResponse:
    user = _user(request)
    batch = batch_for(user, batch_id)
    context = _progress_context(batch)
    context["can_write"] = upload_can_write(user, batch)
    return render(request, "tolling/upload_detail.html", context)


@require_GET
@role_required(*ALL_ROLES)
def upload_progress(request: HttpRequest, batch_id: int) -> HttpResponse:
    """The live part of the detail page, polled by htmx while the batch runs."""
    user = _user(request)
    batch = batch_for(user, batch_id)
    context = _progress_context(batch)
    context["can_write"] = upload_can_write(user, batch)
    return render(request, "tolling/_upload_progress.html", context)


@require_POST
@role_required(*UPLOADERS)
def upload_cancel_view(request: HttpRequest, batch_id: int) -> HttpResponse:
    user = _user(request)
    batch = batch_for(user, batch_id)
    if not upload_can_write(user, batch):
        raise PermissionDenied
    upload_cancel(batch=batch, user=user, request=request)
    return redirect("upload-detail", batch_id=batch.pk)


@require_GET
@role_required(*ALL_ROLES)
def upload_original(request: HttpRequest, batch_id: int) -> FileResponse:
    batch = batch_for(_user(request), batch_id)
    return FileResponse(batch.file.open("rb"), as_attachment=True, filename=batch.file_name)


@require_GET
@role_required(*ALL_ROLES)
def upload_errors(request: HttpRequest, batch_id: int, fmt: str) -> HttpResponseBase:
    batch = batch_for(_user(request), batch_id)
    return error_file_response(batch, fmt)


@require_GET
@role_required(*ALL_ROLES)
def upload_template(request: HttpRequest, kind: str, fmt: str) -> HttpResponse:
    if kind not in UploadKind.values:
        raise PermissionDenied(_("未知的数据类型"))
    if fmt == "xlsx":
        return HttpResponse(
            contract.template_xlsx(kind),
            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers={"Content-Disposition": f'attachment; filename="{kind}-template.xlsx"'},
        )
    return HttpResponse(
        contract.template_csv(kind),
        content_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{kind}-template.csv"'},
    )
