"""Invoicing API (`/api/v1/`): documents and summary sheets to read and download, and the commands the console and
the customer channels (app, web, mini-programs) call: invoice requests, reversal, reissue, delivery, sheets.

Who: every console role reads (province users and province-bound managers: their province's documents only;
``Document.province`` is the seller's); agents and maintainers act; province tokens may also claim their
province's paper tickets, taxi rides and back-charges (``invoicing.claims``, docs/adr/0004-claims.md).

Domain errors (``IssuingError`` and its subclasses, number series exhausted) are mapped once, in
``piaogen.errors`` (the codes' statuses are registered in ``invoicing.apps``): state conflicts → 409, the rest → 400,
with the translated message and the error code. Refused claims answer with their own status (``CLAIM_STATUS``) and
every refused item.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from django.db import transaction
from django.db.models import Prefetch, QuerySet
from django.http import FileResponse, HttpResponseBase
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from invoicing.claims import ClaimError, ClaimItem, ClaimKind, ClaimRefused, NewTitle, invoice_claim
from invoicing.customers import CustomerError, prepaid_choice_set
from invoicing.delivery import delivery_send
from invoicing.filters import DocumentFilter
from invoicing.issuing import document_reissue, document_reverse
from invoicing.models import (
    BuyerTitle,
    CardPrepaidChoice,
    Customer,
    Delivery,
    Document,
    DocumentLine,
    ItemKind,
    PrepaidChoice,
    SummarySheet,
    TitleKind,
)
from invoicing.requests import NOT_FOUND, Rejection, invoice_request_issue
from invoicing.selectors import (
    ACTORS,
    documents_for,
    sheet_documents_for,
    sheet_is_whole_for,
    sheet_pass_ids_for,
    sheets_for,
)
from invoicing.sheets import summary_sheet_issue
from piaogen.access import ALL_ROLES, scoped
from piaogen.api import OctetStreamRenderer, PdfRenderer, binary_responses, download
from piaogen.errors import DOMAIN_ERRORS, DomainErrorSerializer, api_error
from piaogen.idempotency import PARAMETER as IDEMPOTENCY_KEY
from piaogen.idempotency import idempotent
from piaogen.identifiers import PlateColor, card_number_validator
from piaogen.models import Role, User
from piaogen.money import parse_yuan
from piaogen.privacy import MaskedModelSerializer
from tolling.models import Card, Segment

MAX_REQUEST_ITEMS = 1000


# --- scope --------------------------------------------------------------------------------------------------------


def _user(request: Request) -> User:
    assert isinstance(request.user, User)
    return request.user


# --- read serializers ---------------------------------------------------------------------------------------------


class DocumentLineSerializer(serializers.ModelSerializer[DocumentLine]):
    class Meta:
        model = DocumentLine
        fields = [
            "line_no",
            "item_name",
            "plate",
            "vehicle_type",
            "date_from",
            "date_to",
            "tax_rate",
            "amount_net",
            "amount_tax",
            "amount_gross",
        ]
        read_only_fields = fields


class DocumentSerializer(MaskedModelSerializer):  # buyer_tax_id: a person's is their resident ID (piaogen.privacy)
    class Meta:
        model = Document
        fields = [
            "id",
            "kind",
            "business_line",
            "status",
            "code",
            "number",
            "issued_at",
            "service_date",
            "province",
            "seller_name",
            "seller_tax_id",
            "customer",
            "title",
            "buyer_name",
            "buyer_tax_id",
            "card_no",
            "tax_rate",
            "amount_net",
            "amount_tax",
            "amount_gross",
            "period_start",
            "period_end",
            "is_merged",
            "original",
            "replaces",
            "remarks",
        ]
        read_only_fields = fields


class DeliverySerializer(MaskedModelSerializer):  # the address is masked (piaogen.privacy)
    class Meta:
        model = Delivery
        fields = ["id", "document", "sheet", "address", "status", "attempts", "last_error", "created_at", "sent_at"]
        read_only_fields = fields


class DocumentDetailSerializer(DocumentSerializer):
    lines = DocumentLineSerializer(many=True, read_only=True)
    deliveries = DeliverySerializer(many=True, read_only=True)
    summary_sheets = serializers.ManyRelatedField(
        child_relation=serializers.SlugRelatedField(read_only=True, slug_field="number"), read_only=True
    )

    class Meta(DocumentSerializer.Meta):
        fields = [*DocumentSerializer.Meta.fields, "lines", "deliveries", "summary_sheets"]
        read_only_fields = fields


class SummarySheetSerializer(serializers.ModelSerializer[SummarySheet]):
    documents = serializers.ManyRelatedField(
        child_relation=serializers.PrimaryKeyRelatedField(read_only=True), read_only=True
    )
    replaced_by: serializers.SlugRelatedField[SummarySheet] = serializers.SlugRelatedField(
        read_only=True, slug_field="number"
    )

    class Meta:
        model = SummarySheet
        fields = [
            "id",
            "number",
            "province",
            "status",
            "customer",
            "card_no",
            "pass_ids",
            "documents",
            "amount_gross",
            "issued_at",
            "service_date",
            "replaced_by",
        ]
        read_only_fields = fields

    def to_representation(self, instance: SummarySheet) -> dict[str, Any]:
        data: dict[str, Any] = super().to_representation(instance)
        shown = getattr(instance, "shown_amount_gross", None)
        if shown is not None:  # a province-bound reader: their documents' part of the total (sheets_for)
            data["amount_gross"] = shown
        visible = getattr(instance, "visible_pass_ids", None)
        if visible is not None:  # a province-bound reader: only the trips of their province (sheet_pass_ids_for)
            ours = set(visible)
            data["pass_ids"] = [pass_id for pass_id in instance.pass_ids if pass_id in ours]
        return data


def _pdf_response(file: Any, filename: str) -> FileResponse:
    return FileResponse(file.open("rb"), as_attachment=True, filename=filename, content_type="application/pdf")


# --- documents ----------------------------------------------------------------------------------------------------


class DocumentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[Document]):
    """Issued documents (数电 invoices, fiscal e-receipts, red-letter documents) with their lines; PDF download."""

    queryset = Document.objects.none()  # the schema's type of `id`; requests use get_queryset
    filterset_class = DocumentFilter
    allowed_roles = ALL_ROLES

    def get_queryset(self) -> QuerySet[Document]:
        documents = documents_for(_user(self.request)).order_by("-issued_at", "-id")
        if self.action == "retrieve":
            return documents.prefetch_related(
                Prefetch("lines", queryset=DocumentLine.objects.order_by("line_no")),
                Prefetch("deliveries", queryset=Delivery.objects.order_by("-created_at")),
                "summary_sheets",
            )
        return documents

    def get_serializer_class(self) -> type[serializers.BaseSerializer[Document]]:
        return DocumentDetailSerializer if self.action == "retrieve" else DocumentSerializer

    @extend_schema(responses=binary_responses(PdfRenderer.media_type))
    @action(detail=True, methods=["get"], renderer_classes=[PdfRenderer, OctetStreamRenderer])
    def pdf(self, request: Request, pk: str) -> HttpResponseBase:
        """The document as PDF (rendered on first need, then cached)."""
        from invoicing.pdf import document_pdf_ensure  # weasyprint loads only when a PDF is asked for

        document = document_pdf_ensure(document=self.get_object())
        return download(request, _pdf_response(document.pdf, f"{document}.pdf"))


class ReasonSerializer(serializers.Serializer[Any]):
    reason = serializers.CharField(max_length=500, help_text=_("原因（必填，记入审计日志）"))


class DocumentReverseView(APIView):
    """红冲: issue the red-letter document for an issued document; its summary sheets are voided and replaced."""

    allowed_roles = ACTORS

    @extend_schema(
        request=ReasonSerializer, responses={201: DocumentSerializer, **DOMAIN_ERRORS}, parameters=[IDEMPOTENCY_KEY]
    )
    @idempotent
    def post(self, request: Request, pk: int) -> Response:
        user = _user(request)
        form = ReasonSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        document = get_object_or_404(documents_for(user), pk=pk)
        red = document_reverse(document=document, reason=form.validated_data["reason"], by=user)
        return Response(DocumentSerializer(red).data, status=status.HTTP_201_CREATED)


class ReissueSerializer(ReasonSerializer):
    title = serializers.PrimaryKeyRelatedField(queryset=BuyerTitle.objects.all(), help_text=_("新的发票抬头"))


class DocumentReissueView(APIView):
    """换票: reverse the document and issue a new one over the same items with the corrected buyer title."""

    allowed_roles = ACTORS

    @extend_schema(
        request=ReissueSerializer, responses={201: DocumentSerializer, **DOMAIN_ERRORS}, parameters=[IDEMPOTENCY_KEY]
    )
    @idempotent
    def post(self, request: Request, pk: int) -> Response:
        user = _user(request)
        form = ReissueSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        document = get_object_or_404(documents_for(user), pk=pk)
        new = document_reissue(
            document=document, title=form.validated_data["title"], reason=form.validated_data["reason"], by=user
        )
        return Response(DocumentSerializer(new).data, status=status.HTTP_201_CREATED)


class DeliveryRequestSerializer(serializers.Serializer[Any]):
    address = serializers.EmailField(required=False, help_text=_("收件邮箱（默认：抬头的收票邮箱，否则客户邮箱）"))


class DocumentDeliveryView(APIView):
    """(Re)send a document by e-mail; a repeat within a minute returns the delivery already made."""

    allowed_roles = ACTORS

    @extend_schema(
        request=DeliveryRequestSerializer,
        responses={201: DeliverySerializer, **DOMAIN_ERRORS},
        parameters=[IDEMPOTENCY_KEY],
    )
    @idempotent
    def post(self, request: Request, pk: int) -> Response:
        user = _user(request)
        form = DeliveryRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        document = get_object_or_404(documents_for(user), pk=pk)
        delivery = delivery_send(document=document, address=form.validated_data.get("address"), by=user)
        return Response(DeliverySerializer(delivery).data, status=status.HTTP_201_CREATED)


# --- invoice requests ---------------------------------------------------------------------------------------------


class RequestItemSerializer(serializers.Serializer[Any]):
    """An item by its id (``segment``, ``topup``), or a claim by its printed number and second factor
    (``paper_ticket``: number + plate; ``taxi_ride``: number + amount or taxi plate; ``audit_charge``: number +
    plate; ``invoicing.claims``)."""

    kind = serializers.ChoiceField(
        choices=[ItemKind.SEGMENT, ItemKind.TOPUP, *ClaimKind.values], help_text=_("明细类型")
    )
    id = serializers.IntegerField(
        min_value=1, max_value=2**63 - 1, required=False, help_text=_("明细标识（segment、topup）")
    )  # a bigint
    number = serializers.CharField(
        max_length=64,
        required=False,
        help_text=_("票据号、行程号或补费流水号（paper_ticket、taxi_ride、audit_charge）"),
    )
    plate = serializers.CharField(max_length=20, required=False, help_text=_("车牌号（paper_ticket、audit_charge）"))
    plate_color = serializers.ChoiceField(
        choices=PlateColor.choices, required=False, help_text=_("车牌颜色（可选，填写时须相符）")
    )
    amount = serializers.RegexField(
        r"^[0-9]{1,10}(\.[0-9]{1,2})?$", required=False, help_text=_("金额（元，taxi_ride 的核验信息之一）")
    )
    taxi_plate = serializers.CharField(
        max_length=20, required=False, help_text=_("出租车车牌（taxi_ride 的核验信息之一）")
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        kind = attrs["kind"]
        if kind in (ItemKind.SEGMENT, ItemKind.TOPUP):
            if "id" not in attrs:
                raise serializers.ValidationError({"id": _("请提供明细标识")})
            return attrs
        if not (attrs.get("number") or "").strip():
            raise serializers.ValidationError({"number": _("请提供票据号、行程号或补费流水号")})
        if kind == ClaimKind.TAXI_RIDE:
            if "amount" not in attrs and not (attrs.get("taxi_plate") or "").strip():
                raise serializers.ValidationError({"amount": _("请提供金额或出租车车牌作为核验信息")})
        elif not (attrs.get("plate") or "").strip():
            raise serializers.ValidationError({"plate": _("请提供车牌号")})
        return attrs


class NewTitleSerializer(serializers.Serializer[Any]):
    kind = serializers.ChoiceField(choices=TitleKind.choices, help_text=_("抬头类型"))
    name = serializers.CharField(max_length=200, help_text=_("抬头名称"))
    tax_id = serializers.CharField(
        max_length=20, required=False, allow_blank=True, default="", help_text=_("纳税人识别号（单位必填）")
    )
    email = serializers.EmailField(required=False, allow_blank=True, help_text=_("收票邮箱"))

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        return {"email": "", **attrs}  # no `default=""` on an e-mail field: the schema's default must be an e-mail


class InvoiceRequestSerializer(serializers.Serializer[Any]):
    items = RequestItemSerializer(many=True, required=False, help_text=_("按明细开票：类型 + 标识"))
    card_no = serializers.RegexField(r"^[0-9]{20}$", required=False, help_text=_("ETC卡号（按通行开票时必填）"))
    pass_ids = serializers.ListField(
        child=serializers.CharField(max_length=40), required=False, help_text=_("通行标识（该卡的通行）")
    )
    customer = serializers.IntegerField(
        min_value=1, max_value=2**63 - 1, required=False, help_text=_("购买方客户（按号码申请开票时必填）")
    )
    title = serializers.IntegerField(
        min_value=1, max_value=2**63 - 1, required=False, help_text=_("该客户的已有抬头（与 new_title 二选一）")
    )
    new_title = NewTitleSerializer(required=False, help_text=_("新抬头，保存为该客户的抬头版本（与 title 二选一）"))

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        items, pass_ids, card_no = attrs.get("items") or [], attrs.get("pass_ids") or [], attrs.get("card_no")
        claims = [item for item in items if item["kind"] in ClaimKind.values]
        if claims or {"customer", "title", "new_title"} & set(attrs):
            if len(claims) != len(items) or not items or pass_ids:
                raise serializers.ValidationError(
                    _("按号码申请开票（paper_ticket、taxi_ride、audit_charge）时，不能同时申请其他类型的明细或通行")
                )
            if "customer" not in attrs:
                raise serializers.ValidationError({"customer": _("请指定购买方客户")})
            if ("title" in attrs) == ("new_title" in attrs):
                raise serializers.ValidationError({"title": _("请选择客户的已有抬头，或填写新抬头（二选一）")})
        if bool(items) == bool(pass_ids):
            raise serializers.ValidationError(_("请提供明细（items）或卡号加通行标识（card_no + pass_ids）之一"))
        if pass_ids and not card_no:
            raise serializers.ValidationError({"card_no": _("按通行开票时必须提供ETC卡号")})
        if len(items) + len(pass_ids) > MAX_REQUEST_ITEMS:
            raise serializers.ValidationError(_("一次最多申请%(count)s条") % {"count": MAX_REQUEST_ITEMS})
        return attrs


class RejectionSerializer(serializers.Serializer[Any]):
    kind = serializers.CharField(help_text=_("明细类型（segment、topup；trip 表示找不到的通行）"))
    id = serializers.IntegerField(allow_null=True)
    pass_id = serializers.CharField(allow_blank=True)
    reason = serializers.CharField(help_text=_("原因代码"))
    message = serializers.CharField(help_text=_("原因说明"))


class InvoiceRequestResultSerializer(serializers.Serializer[Any]):
    documents = DocumentSerializer(many=True)
    rejected = RejectionSerializer(many=True)


class InvoiceRequestConflictSerializer(DomainErrorSerializer):
    rejected = RejectionSerializer(many=True)


class ClaimRejectionSerializer(serializers.Serializer[Any]):
    kind = serializers.CharField(help_text=_("明细类型（paper_ticket、taxi_ride、audit_charge）"))
    number = serializers.CharField(help_text=_("所填的号码"))
    reason = serializers.CharField(help_text=_("原因代码"))
    message = serializers.CharField(help_text=_("原因说明"))


class ClaimRefusedSerializer(DomainErrorSerializer):
    rejected = ClaimRejectionSerializer(many=True)


CLAIM_STATUS = {NOT_FOUND: status.HTTP_404_NOT_FOUND, "rate_limited": status.HTTP_429_TOO_MANY_REQUESTS}
"""HTTP status of a refused claim by its first refusal's code; any other refusal is a 409 (the item's state)."""


def _claim(user: User, data: dict[str, Any]) -> Response:
    """Claims by printed number (``invoicing.claims``): all or nothing. The customer and title resolve within the
    caller's scope (a province token: its province's customers); "not yours" answers like "not there"."""
    customer = scoped(Customer.objects.all(), user).filter(pk=data["customer"]).first()
    if customer is None:
        raise serializers.ValidationError({"customer": [_("找不到该客户")]})
    title = None
    if "title" in data:
        title = BuyerTitle.objects.filter(customer=customer, pk=data["title"]).first()
        if title is None:
            raise serializers.ValidationError({"title": [_("该客户没有这个抬头")]})
    new = data.get("new_title")
    items = [
        ClaimItem(
            kind=item["kind"],
            number=item["number"],
            plate=item.get("plate", ""),
            plate_color=item.get("plate_color"),
            amount=parse_yuan(item["amount"]) if "amount" in item else None,
            taxi_plate=item.get("taxi_plate", ""),
        )
        for item in data["items"]
    ]
    try:
        documents = invoice_claim(
            items=items,
            customer=customer,
            title=title,
            new_title=NewTitle(**new) if new else None,
            reason=str(_("客户渠道申请开票")),
            by=user,
            province=user.province_scope,
        )
    except ClaimRefused as refused:
        first = refused.refusals[0]
        rows = [{"kind": r.kind, "number": r.number, "reason": r.code, "message": r.message} for r in refused.refusals]
        body = {"detail": str(_("；")).join(r.message for r in refused.refusals), "code": first.code, "rejected": rows}
        return Response(body, status=CLAIM_STATUS.get(first.code, status.HTTP_409_CONFLICT))
    except ClaimError as error:
        answer = api_error(error)
        return Response(answer.detail, status=answer.status_code)
    created: dict[str, Any] = {"documents": DocumentSerializer(documents, many=True).data, "rejected": []}
    return Response(created, status=status.HTTP_201_CREATED)


class InvoiceRequestView(APIView):
    """Request invoices for trips or top-ups, or claim paper tickets, taxi rides and back-charges by their printed
    number (the customer channels and the console call this).

    Eligible items are issued at once (201 with the documents; items that could not be invoiced are listed in
    `rejected` with the eligibility reason). When nothing could be issued: 409 with every item's reason. Asking
    again for what was issued is therefore safe: the second answer is a 409 saying which document holds each item.

    Claims (`paper_ticket`, `taxi_ride`, `audit_charge`, with `customer` and `title` or `new_title`) are all or
    nothing: 201 with the documents, or the refusal with a `code` and nothing issued — 404 `not_found` for an
    unknown number and a wrong second factor alike, 409 `already_invoiced`, `too_old`, `not_yet`, 429
    `rate_limited`. Province tokens may claim their own province's items (and request nothing else).
    """

    allowed_roles = (*ACTORS, Role.PROVINCE)

    @extend_schema(
        request=InvoiceRequestSerializer,
        responses={
            201: InvoiceRequestResultSerializer,
            400: DOMAIN_ERRORS[400],
            404: OpenApiResponse(ClaimRefusedSerializer, description=_("按号码申请：找不到或核验信息不符")),
            409: OpenApiResponse(InvoiceRequestConflictSerializer, description=_("没有可开票的明细")),
            429: OpenApiResponse(DomainErrorSerializer, description=_("按号码申请：该客户申请过于频繁")),
        },
        parameters=[IDEMPOTENCY_KEY],
    )
    @idempotent
    def post(self, request: Request) -> Response:
        user = _user(request)
        if not user.has_role(*ACTORS) and not (isinstance(request.data, dict) and "customer" in request.data):
            raise PermissionDenied(_("省级账户只能按号码申请开票（纸改电、出租车、稽核补费）"))
        form = InvoiceRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        if "customer" in data:
            return _claim(user, data)
        segment_ids = [item["id"] for item in data.get("items", []) if item["kind"] == ItemKind.SEGMENT]
        topup_ids = [item["id"] for item in data.get("items", []) if item["kind"] == ItemKind.TOPUP]
        missing_trips: list[Rejection] = []
        if data.get("pass_ids"):
            pass_ids = list(dict.fromkeys(data["pass_ids"]))
            found = list(
                Segment.objects.filter(card_no=data["card_no"], pass_id__in=pass_ids)
                .order_by("pass_id", "segment_no")
                .values_list("id", "pass_id")
            )
            segment_ids += [segment_id for segment_id, _pass_id in found]
            known = {pass_id for _id, pass_id in found}
            missing_trips = [
                Rejection("trip", None, NOT_FOUND, str(_("该卡没有这次通行")), pass_id=pass_id)
                for pass_id in pass_ids
                if pass_id not in known
            ]
        documents, rejected = invoice_request_issue(segment_ids=segment_ids, topup_ids=topup_ids, by=user)
        rejected = missing_trips + rejected
        rows = [r.__dict__ for r in rejected]
        if not documents:
            conflict = {"detail": str(_("没有可开票的明细")), "code": "nothing_eligible", "rejected": rows}
            return Response(conflict, status=status.HTTP_409_CONFLICT)
        from invoicing.tasks import deliver_document  # tasks import the services

        for document in documents:
            transaction.on_commit(partial(deliver_document.delay, document.pk))
        body: dict[str, Any] = {"documents": DocumentSerializer(documents, many=True).data, "rejected": rows}
        return Response(body, status=status.HTTP_201_CREATED)


# --- summary sheets -----------------------------------------------------------------------------------------------


class SummarySheetRequestSerializer(serializers.Serializer[Any]):
    card_no = serializers.RegexField(r"^[0-9]{20}$", help_text=_("ETC卡号"))
    pass_ids = serializers.ListField(
        child=serializers.CharField(max_length=40), min_length=1, max_length=MAX_REQUEST_ITEMS, help_text=_("通行标识")
    )


class SummarySheetViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[SummarySheet]):
    """Summary sheets (电子汇总单): read, download, and issue one for a card's trips (agents and maintainers)."""

    queryset = SummarySheet.objects.none()  # the schema's type of `id`; requests use get_queryset
    serializer_class = SummarySheetSerializer

    @property
    def allowed_roles(self) -> tuple[str, ...]:
        return ACTORS if self.action == "create" else ALL_ROLES

    def get_queryset(self) -> QuerySet[SummarySheet]:
        user = _user(self.request)
        return (
            sheet_pass_ids_for(user, sheets_for(user))
            .select_related("replaced_by")
            .prefetch_related(sheet_documents_for(user))
            .order_by("-issued_at", "-id")
        )

    @extend_schema(
        request=SummarySheetRequestSerializer,
        responses={201: SummarySheetSerializer, **DOMAIN_ERRORS},
        parameters=[IDEMPOTENCY_KEY],
    )
    @idempotent
    def create(self, request: Request) -> Response:
        """Issue (or return the standing) summary sheet over the card's trips; safe to submit twice."""
        form = SummarySheetRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        sheet = summary_sheet_issue(
            card_no=form.validated_data["card_no"], pass_ids=form.validated_data["pass_ids"], by=_user(request)
        )
        return Response(SummarySheetSerializer(sheet).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=binary_responses(PdfRenderer.media_type))
    @action(detail=True, methods=["get"], renderer_classes=[PdfRenderer, OctetStreamRenderer])
    def pdf(self, request: Request, pk: str) -> HttpResponseBase:
        """The summary sheet as PDF (rendered on first need, then cached)."""
        from invoicing.pdf import summary_sheet_pdf_ensure

        sheet = self.get_object()
        if not sheet_is_whole_for(_user(request), sheet):
            raise PermissionDenied(_("该汇总单还列有其他省份的票据或通行，只能查看本省部分，不能下载全文。"))
        sheet = summary_sheet_pdf_ensure(sheet=sheet)
        return download(request, _pdf_response(sheet.pdf, f"{sheet.number}.pdf"))


# --- a prepaid card's invoicing choice ------------------------------------------------------------------------------


class PrepaidChoiceRequestSerializer(serializers.Serializer[Any]):
    card_no = serializers.CharField(max_length=20, validators=[card_number_validator], help_text=_("ETC卡号（储值卡）"))
    choice = serializers.ChoiceField(
        choices=PrepaidChoice.choices, help_text=_("开票方式：topup 充值时开票，trips 按通行开票")
    )
    reason = serializers.CharField(max_length=500, help_text=_("原因（必填，记入审计日志）"))


class PrepaidChoiceSerializer(serializers.ModelSerializer[CardPrepaidChoice]):
    class Meta:
        model = CardPrepaidChoice
        fields = ["id", "card_no", "choice", "valid_from", "customer"]


class PrepaidChoiceView(APIView):
    """Change a prepaid card's invoicing choice from now on (domain.md §4.12): ``topup``, the daily run issues each
    later top-up's non-taxable invoice; ``trips``, top-ups only on request and the trips they pay are invoiced.
    Money already invoiced either way is not affected. 409 ``prepaid_choice_unchanged`` when it is the choice
    already; 400 ``not_prepaid`` for a post-pay card."""

    allowed_roles = ACTORS

    @extend_schema(
        request=PrepaidChoiceRequestSerializer,
        responses={201: PrepaidChoiceSerializer, **DOMAIN_ERRORS},
        parameters=[IDEMPOTENCY_KEY],
    )
    @idempotent
    def post(self, request: Request) -> Response:
        user = _user(request)
        form = PrepaidChoiceRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        if not scoped(Card.objects.filter(card_no=data["card_no"]), user).exists():
            raise CustomerError(_("找不到ETC卡%(card_no)s"), code="card_not_found", params={"card_no": data["card_no"]})
        version = prepaid_choice_set(card_no=data["card_no"], choice=data["choice"], reason=data["reason"], by=user)
        return Response(PrepaidChoiceSerializer(version).data, status=status.HTTP_201_CREATED)
