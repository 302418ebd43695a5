"""Upload API for provincial systems (token) and the console (session): `/api/v1/uploads/`."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import Http404, HttpResponse, HttpResponseBase
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied as ApiPermissionDenied
from rest_framework.exceptions import ValidationError as ApiValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from piaogen import idempotency
from piaogen.api import CsvRenderer, OctetStreamRenderer, PayloadTooLarge, XlsxRenderer, binary_responses, download
from piaogen.callbacks import callback_arm
from piaogen.models import User
from piaogen.privacy import MaskedJSONField
from tolling import contract
from tolling.filters import UploadBatchFilter
from tolling.importing.validation import row_codes
from tolling.models import RejectedRow, UploadBatch, UploadKind, UploadMode, UploadStatus
from tolling.selectors import batch_rate, batches_for, error_file_response
from tolling.services import UPLOAD_FINISHED, upload_can_write, upload_cancel, upload_create

RETRY_AFTER_SECONDS = 5
"""What a 202 and the detail of a queued or running batch suggest as the wait before polling again."""

FILE_TYPES = binary_responses(CsvRenderer.media_type, XlsxRenderer.media_type)
DOWNLOADS = [CsvRenderer, XlsxRenderer, OctetStreamRenderer]  # CSV unless XLSX is asked for
FORMAT = OpenApiParameter(
    "format", str, enum=["csv", "xlsx"], description="csv (default) or xlsx; or send Accept: text/csv or the XLSX type"
)


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


class RejectedRowSerializer(serializers.ModelSerializer[RejectedRow]):
    cells = MaskedJSONField(help_text="the row's cells as read (a list in header order)")
    reasons = serializers.ListField(child=serializers.CharField(), read_only=True, help_text="错误原因, in order")
    codes = serializers.ListField(child=serializers.CharField(), read_only=True, help_text="one code per reason")

    class Meta:
        model = RejectedRow
        fields = ["line_no", "cells", "reasons", "codes"]
        read_only_fields = fields


class RejectedRowPageSerializer(serializers.Serializer[Any]):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = RejectedRowSerializer(many=True)


class UploadBatchViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[UploadBatch]):
    """Upload a file (202, processed in the background), follow its progress, fetch its error file."""

    serializer_class = UploadBatchSerializer
    filterset_class = UploadBatchFilter
    parser_classes = [MultiPartParser]  # one content type: generated clients send multipart

    def get_queryset(self) -> QuerySet[UploadBatch]:
        if getattr(self, "swagger_fake_view", False):  # schema generation: no user
            return UploadBatch.objects.none()
        user = self.request.user
        assert isinstance(user, User)
        return batches_for(user).order_by("-created_at")

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        response = super().retrieve(request, *args, **kwargs)
        if response.data["status"] in (UploadStatus.QUEUED, UploadStatus.RUNNING):
            response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response

    @extend_schema(
        request=UploadCreateSerializer, responses={202: UploadBatchSerializer}, parameters=[idempotency.PARAMETER]
    )
    @idempotency.idempotent
    def create(self, request: Request) -> Response:
        """Queue a file (202 with `Location` of the batch and `Retry-After`); a callback follows if the token has
        a callback URL."""
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
            if getattr(exc, "code", None) == "too_large":
                raise PayloadTooLarge(exc.messages[0]) from exc
            raise ApiValidationError({"file": exc.messages}) from exc
        except PermissionDenied as exc:
            raise ApiPermissionDenied(str(exc)) from exc
        callback_arm(token=request.auth, event=UPLOAD_FINISHED, object_id=batch.pk)
        headers = {"Location": reverse("api-upload-detail", args=[batch.pk]), "Retry-After": str(RETRY_AFTER_SECONDS)}
        return Response(UploadBatchSerializer(batch).data, status=status.HTTP_202_ACCEPTED, headers=headers)

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

    @extend_schema(request=None, parameters=[FORMAT], responses=FILE_TYPES)
    @action(detail=True, methods=["get"], renderer_classes=DOWNLOADS, filter_backends=[])
    def errors(self, request: Request, pk: str) -> HttpResponseBase:
        """The rejected rows with 行号, 错误原因 and 错误代码 (CSV with BOM; XLSX by `?format=xlsx` or the `Accept`
        header). 404 when the batch has no rejected row."""
        batch = self.get_object()
        if request.accepted_renderer.format == "xlsx":
            return error_file_response(batch, "xlsx")
        return download(request, error_file_response(batch, "csv"))

    @extend_schema(
        request=None,
        parameters=[OpenApiParameter("status", str, enum=["rejected"], description="rejected (the only kept rows)")],
        responses={200: RejectedRowPageSerializer},
    )
    @action(detail=True, methods=["get"], filter_backends=[])
    def rows(self, request: Request, pk: str) -> Response:
        """The batch's rejected rows as JSON, in line order, paged: cells as read, reasons, codes."""
        batch = self.get_object()
        wanted = request.query_params.get("status", "rejected")
        if wanted != "rejected":
            raise ApiValidationError({"status": [_("只保留被拒绝的行：status=rejected")]})
        rows = RejectedRow.objects.filter(batch=batch).order_by("line_no")  # rejected_row_batch_line_uniq
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(rows, request, view=self)
        return paginator.get_paginated_response(RejectedRowSerializer(page, many=True).data)


# --- the upload contract -------------------------------------------------------------------------------------------


class ContractColumnSerializer(serializers.Serializer[Any]):
    name = serializers.CharField(help_text="canonical header (English)")
    aliases = serializers.ListField(child=serializers.CharField(), help_text="Chinese headers accepted as well")
    required = serializers.BooleanField()  # type: ignore[assignment]  # a field named like a Field attribute
    description = serializers.CharField()
    sample = serializers.CharField()


class ContractKindSerializer(serializers.Serializer[Any]):
    kind = serializers.ChoiceField(choices=UploadKind.choices)
    label = serializers.CharField()  # type: ignore[assignment]  # a field named like a Field attribute
    columns = ContractColumnSerializer(many=True)
    template_csv = serializers.CharField()
    template_xlsx = serializers.CharField()


class RowCodeSerializer(serializers.Serializer[Any]):
    code = serializers.CharField(help_text="`<column>.<problem>` or `row.<problem>`")
    example = serializers.CharField(help_text="a reason given with it")


class ContractLimitsSerializer(serializers.Serializer[Any]):
    """tolling.contract.UploadLimits: what a file must keep to, or it is refused as a whole."""

    max_bytes = serializers.IntegerField(help_text="the whole file (413 beyond)")
    line_bytes = serializers.IntegerField(help_text="one CSV line, or one quoted cell")
    columns = serializers.IntegerField(help_text="header columns")
    xlsx_inflated_bytes = serializers.IntegerField(help_text="all parts of an XLSX, inflated")
    xlsx_ratio = serializers.IntegerField(help_text="compression ratio of one XLSX part …")
    xlsx_ratio_min_part = serializers.IntegerField(help_text="… over this inflated size")
    xlsx_parts = serializers.IntegerField(help_text="parts in an XLSX")


class ContractSerializer(serializers.Serializer[Any]):
    kinds = ContractKindSerializer(many=True)
    row_codes = RowCodeSerializer(many=True, help_text="every code a rejected row may carry")
    limits = ContractLimitsSerializer()
    error_file_columns = serializers.ListField(child=serializers.CharField())


class ContractView(APIView):
    """The upload contract (product.md §4) as data: every kind with its columns, the file limits, the columns the
    error file adds. The same source as the upload page and the templates."""

    @extend_schema(responses={200: ContractSerializer})
    def get(self, request: Request) -> Response:
        kinds = [
            {
                "kind": kind,
                "label": str(UploadKind(kind).label),
                "columns": [col.__dict__ for col in contract.CONTRACT[kind]],
                "template_csv": reverse("api-contract-template", args=[kind]) + "?format=csv",
                "template_xlsx": reverse("api-contract-template", args=[kind]) + "?format=xlsx",
            }
            for kind in UploadKind.values
        ]
        limits = contract.upload_limits().__dict__
        extra = [str(_(header)) for header in contract.ERROR_FILE_HEADERS]
        codes = [{"code": code, "example": example} for code, example in row_codes()]
        body = {"kinds": kinds, "limits": limits, "error_file_columns": extra, "row_codes": codes}
        return Response(ContractSerializer(body).data)


class ContractTemplateView(APIView):
    """A kind's template file (Chinese headers and a sample row) for an API token: CSV or XLSX."""

    renderer_classes = DOWNLOADS

    @extend_schema(parameters=[FORMAT], responses=FILE_TYPES)
    def get(self, request: Request, kind: str) -> HttpResponseBase:
        if kind not in UploadKind.values:
            raise Http404(_("未知的数据类型"))
        if request.accepted_renderer.format == "xlsx":
            content, content_type = contract.template_xlsx(kind), XlsxRenderer.media_type
        else:
            content, content_type = contract.template_csv(kind), "text/csv; charset=utf-8"
        filename = f"{kind}-template.{'xlsx' if content_type == XlsxRenderer.media_type else 'csv'}"
        disposition = f'attachment; filename="{filename}"'
        return download(
            request, HttpResponse(content, content_type=content_type, headers={"Content-Disposition": disposition})
        )
