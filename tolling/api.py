"""Upload API for provincial systems (token) and the console (session): `/api/v1/uploads/`."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import FileResponse, Http404, HttpResponseBase
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied as ApiPermissionDenied
from rest_framework.exceptions import ValidationError as ApiValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from piaogen.access import scoped
from piaogen.models import User
from tolling import errorfile
from tolling.filters import UploadBatchFilter
from tolling.models import UploadBatch, UploadKind, UploadMode
from tolling.services import upload_can_write, upload_cancel, upload_create


class UploadBatchSerializer(serializers.ModelSerializer[UploadBatch]):
    uploaded_by = serializers.CharField(source="uploaded_by.username", read_only=True)
    rows_per_second = serializers.SerializerMethodField()

    class Meta:
        model = UploadBatch
        fields = [
            "id",
            "kind",
            "province",
            "status",
            "message",
            "file_name",
            "file_size",
            "encoding",
            "uploaded_by",
            "rows_total",
            "rows_done",
            "rows_accepted",
            "rows_duplicate",
            "rows_rejected",
            "rows_conflict",
            "rows_corrected",
            "mode",
            "rows_per_second",
            "cancel_requested",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields

    def get_rows_per_second(self, batch: UploadBatch) -> int | None:
        return batch_rate(batch)


class UploadCreateSerializer(serializers.Serializer[Any]):
    kind = serializers.ChoiceField(choices=UploadKind.choices, help_text=_("数据类型"))
    file = serializers.FileField(help_text=_("CSV（UTF-8 或 GB18030）或 XLSX 文件"))
    province = serializers.CharField(required=False, help_text=_("省份代码（仅运维账号需要）"))
    mode = serializers.ChoiceField(
        choices=UploadMode.choices,
        default=UploadMode.APPEND,
        help_text=_("append：新增（主键已有且数据不同的行作为冲突拒绝）；correct：更正（替换尚未开票的已有行）"),
    )


def batch_rate(batch: UploadBatch) -> int | None:
    """Rows per second so far (or overall, once finished)."""
    if batch.started_at is None or batch.rows_done == 0:
        return None
    end = batch.finished_at or batch.heartbeat_at or batch.started_at
    seconds = (end - batch.started_at).total_seconds()
    return int(batch.rows_done / seconds) if seconds > 0 else None


class UploadBatchViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[UploadBatch]):
    """Upload a file (202, processed in the background), follow its progress, fetch its error file."""

    serializer_class = UploadBatchSerializer
    filterset_class = UploadBatchFilter
    parser_classes = [MultiPartParser, FormParser]

    def get_queryset(self) -> QuerySet[UploadBatch]:
        if getattr(self, "swagger_fake_view", False):  # schema generation: no user
            return UploadBatch.objects.none()
        user = self.request.user
        assert isinstance(user, User)
        return scoped(UploadBatch.objects.select_related("uploaded_by"), user).order_by("-created_at")

    @extend_schema(request=UploadCreateSerializer, responses={202: UploadBatchSerializer})
    def create(self, request: Request) -> Response:
        form = UploadCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        user = request.user
        assert isinstance(user, User)
        upload = form.validated_data["file"]
        try:
            batch = upload_create(
                user=user,
                kind=form.validated_data["kind"],
                file=upload,
                file_name=upload.name,
                province=form.validated_data.get("province"),
                request=request._request,
                mode=form.validated_data["mode"],
            )
        except ValidationError as exc:
            raise ApiValidationError({"file": exc.messages}) from exc
        except PermissionDenied as exc:
            raise ApiPermissionDenied(str(exc)) from exc
        return Response(UploadBatchSerializer(batch).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses={200: UploadBatchSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str) -> Response:
        batch = self.get_object()
        user = request.user
        assert isinstance(user, User)
        if not upload_can_write(user, batch):
            raise ApiPermissionDenied
        batch = upload_cancel(batch=batch, user=user, request=request._request)
        return Response(UploadBatchSerializer(batch).data)

    @extend_schema(request=None, responses={(200, "text/csv"): bytes})
    @action(detail=True, methods=["get"])
    def errors(self, request: Request, pk: str) -> HttpResponseBase:
        """The rejected rows with 行号 and 错误原因 (CSV with BOM; `?format=xlsx` for Excel)."""
        batch = self.get_object()
        if request.query_params.get("format") == "xlsx":
            return errorfile_response_xlsx(batch)
        return errorfile_response_csv(batch)


def errorfile_response_csv(batch: UploadBatch) -> HttpResponseBase:
    if not batch.error_file:
        raise Http404(_("该批次没有被拒绝的行。"))
    return FileResponse(
        batch.error_file.open("rb"),
        as_attachment=True,
        filename=f"errors-{batch.pk}.csv",
        content_type="text/csv; charset=utf-8",
    )


def errorfile_response_xlsx(batch: UploadBatch) -> HttpResponseBase:
    if not batch.rows_rejected:
        raise Http404(_("该批次没有被拒绝的行。"))
    return FileResponse(
        errorfile.error_file_xlsx(batch),
        as_attachment=True,
        filename=f"errors-{batch.pk}.xlsx",
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
