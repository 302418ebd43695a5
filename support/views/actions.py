"""Action pages: form (reason + what) → preview (computed by the service, rolled back) → confirm (once per
idempotency key) → result. Agents and maintainers only; the record is fetched through the province scope."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode

from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError as ApiValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from invoicing.models import PrepaidChoice, TitleKind
from piaogen.access import role_required, scoped
from piaogen.errors import DOMAIN_ERRORS
from piaogen.identifiers import card_number_validator, taxpayer_id_validator
from piaogen.models import User
from piaogen.privacy import MaskedJSONField
from support import forms
from support.actions import (
    ACTORS,
    Target,
    action_confirm,
    action_preview,
    card_target,
    customer_target,
    document_target,
    holder_masked,
)
from support.models import ActionKind, ActionRequest, Ticket
from support.tickets import tickets_for


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


def _ticket(request: HttpRequest, user: User) -> Ticket | None:
    """The ticket the action is done for (``?ticket=ID``), if any: one the user may see, else 404."""
    raw = request.POST.get("ticket") or request.GET.get("ticket")
    if not raw:
        return None
    if not str(raw).isdigit():
        raise Http404
    return get_object_or_404(tickets_for(user), pk=int(raw))


def _action(
    request: HttpRequest,
    *,
    kind: str,
    target: Target,
    form_class: type[forms.ActionForm],
    initial: dict[str, Any],
    notes: list[str] | None = None,
) -> HttpResponse:
    user = _user(request)
    ticket = _ticket(request, user)
    preview: dict[str, Any] | None = None
    if request.method == "POST":
        form = form_class(request.POST, target=target)
        if form.is_valid():
            data = form.cleaned_data
            try:
                if request.POST.get("step") == "confirm":
                    action, _ran = action_confirm(
                        key=data["key"], kind=kind, target=target, data=data, user=user, ticket=ticket, request=request
                    )
                    return redirect("action-result", action.pk)
                preview = action_preview(kind=kind, target=target, data=data, user=user)
            except ValidationError as error:
                form.add_error(None, error)
    else:
        form = form_class(target=target, initial=initial)
    context = {
        "kind": kind,
        "kind_label": ActionKind(kind).label,
        "target": target,
        "record": target.obj,
        "form": form,
        "preview": preview,
        "hidden": form.hidden_values() if preview is not None else [],
        "holder": holder_masked(form.cleaned_data) if preview is not None else None,
        "ticket": ticket,
        "notes": notes or [],
    }
    return render(request, "support/action_form.html", context)


@require_http_methods(["GET", "POST"])
@role_required(*ACTORS)
def document_resend(request: HttpRequest, pk: int) -> HttpResponse:
    target = document_target(_user(request), pk)
    return _action(request, kind=ActionKind.RESEND, target=target, form_class=forms.ResendForm, initial={})


@require_http_methods(["GET", "POST"])
@role_required(*ACTORS)
def document_reverse(request: HttpRequest, pk: int) -> HttpResponse:
    target = document_target(_user(request), pk)
    return _action(request, kind=ActionKind.REVERSE, target=target, form_class=forms.ReverseForm, initial={})


@require_http_methods(["GET", "POST"])
@role_required(*ACTORS)
def document_reissue(request: HttpRequest, pk: int) -> HttpResponse:
    target = document_target(_user(request), pk)
    return _action(request, kind=ActionKind.REISSUE, target=target, form_class=forms.ReissueForm, initial={})


def _card_initial(request: HttpRequest) -> dict[str, Any]:
    return {key: request.GET[key] for key in ("card_no", "keys", "what") if request.GET.get(key)}


def _selected(request: HttpRequest, *, sheet: bool = False) -> tuple[dict[str, Any], list[str]]:
    """The form's initial values from the items ticked on a customer or card page (``trip=<card>:<pass id>``,
    ``topup=<card>:<top-up id>``), and a sentence for each ticked item the form cannot take: one action is for one
    card (the first ticked item's), and a summary sheet binds trips only."""
    initial = _card_initial(request)
    what = "trips" if sheet or request.GET.get("what") != "topups" else "topups"
    chosen = [
        (kind, *value.split(":", 1))
        for kind in ("trip", "segment", "topup")
        for value in request.GET.getlist(kind)
        if ":" in value
    ]
    # a ticked segment is an item of the trips' request (its key ``<pass id>#<segment no>``); a summary sheet binds
    # whole trips, so there it names its trip
    chosen = [
        ("trip", card, key.rsplit("#", 1)[0] if sheet else key) if kind == "segment" else (kind, card, key)
        for kind, card, key in chosen
    ]
    if not chosen:
        return initial, []
    wanted = "trip" if what == "trips" else "topup"
    card_no = initial.get("card_no") or next((card for kind, card, _key in chosen if kind == wanted), "")
    keys, notes = [], []
    for kind, card, key in chosen:
        label = _("通行%(key)s") if kind == "trip" else _("充值%(key)s")
        if kind != wanted:
            notes.append(
                str(_("%(item)s：汇总单只汇总通行，未列入") if sheet else _("%(item)s：本次按%(what)s开票，未列入"))
                % {"item": label % {"key": key}, "what": _("通行") if what == "trips" else _("充值")}
            )
        elif card != card_no:
            notes.append(
                str(_("%(item)s：属于卡%(card)s，一次只为一张卡（%(chosen)s）操作，请另行提交"))
                % {"item": label % {"key": key}, "card": card, "chosen": card_no}
            )
        else:
            keys.append(key)
    initial.update(what=what, card_no=card_no, keys="\n".join(dict.fromkeys(keys)))
    return initial, notes


@require_http_methods(["GET", "POST"])
@role_required(*ACTORS)
def customer_request_invoices(request: HttpRequest, pk: int) -> HttpResponse:
    target = customer_target(_user(request), pk)
    initial, notes = _selected(request)
    return _action(
        request,
        kind=ActionKind.REQUEST_INVOICES,
        target=target,
        form_class=forms.RequestInvoicesForm,
        initial=initial,
        notes=notes,
    )


@require_http_methods(["GET", "POST"])
@role_required(*ACTORS)
def customer_summary_sheet(request: HttpRequest, pk: int) -> HttpResponse:
    target = customer_target(_user(request), pk)
    initial, notes = _selected(request, sheet=True)
    initial.pop("what", None)
    return _action(
        request,
        kind=ActionKind.SUMMARY_SHEET,
        target=target,
        form_class=forms.SummarySheetForm,
        initial=initial,
        notes=notes,
    )


@require_http_methods(["GET", "POST"])
@role_required(*ACTORS)
def customer_card_bind(request: HttpRequest, pk: int) -> HttpResponse:
    target = customer_target(_user(request), pk)
    return _action(
        request, kind=ActionKind.CARD_BIND, target=target, form_class=forms.CardBindForm, initial=_card_initial(request)
    )


@require_http_methods(["GET", "POST"])
@role_required(*ACTORS)
def customer_title_add(request: HttpRequest, pk: int) -> HttpResponse:
    target = customer_target(_user(request), pk)
    return _action(request, kind=ActionKind.TITLE_ADD, target=target, form_class=forms.TitleAddForm, initial={})


@require_http_methods(["GET", "POST"])
@role_required(*ACTORS)
def customer_claim(request: HttpRequest, pk: int) -> HttpResponse:
    """代客开票: a paper ticket, taxi ride or back-charge the caller reads out, for this customer."""
    target = customer_target(_user(request), pk)
    initial = {key: request.GET[key] for key in ("claim_kind", "number", "plate") if request.GET.get(key)}
    return _action(request, kind=ActionKind.CLAIM, target=target, form_class=forms.ClaimForm, initial=initial)


@require_http_methods(["GET", "POST"])
@role_required(*ACTORS)
def card_unbind(request: HttpRequest, pk: int) -> HttpResponse:
    target = card_target(_user(request), pk)
    return _action(request, kind=ActionKind.CARD_UNBIND, target=target, form_class=forms.CardUnbindForm, initial={})


@require_http_methods(["GET", "POST"])
@role_required(*ACTORS)
def customer_binding_backdate(request: HttpRequest, pk: int) -> HttpResponse:
    target = customer_target(_user(request), pk)
    return _action(
        request, kind=ActionKind.BINDING_BACKDATE, target=target, form_class=forms.BindingBackdateForm, initial={}
    )


@require_http_methods(["GET", "POST"])
@role_required(*ACTORS)
def customer_title_backdate(request: HttpRequest, pk: int) -> HttpResponse:
    target = customer_target(_user(request), pk)
    return _action(
        request, kind=ActionKind.TITLE_BACKDATE, target=target, form_class=forms.TitleBackdateForm, initial={}
    )


@require_http_methods(["GET", "POST"])
@role_required(*ACTORS)
def card_prepaid_choice(request: HttpRequest, pk: int) -> HttpResponse:
    target = card_target(_user(request), pk)
    return _action(
        request, kind=ActionKind.PREPAID_CHOICE, target=target, form_class=forms.PrepaidChoiceForm, initial={}
    )


@require_http_methods(["GET"])
@role_required(*ACTORS)
def action_result(request: HttpRequest, pk: int) -> HttpResponse:
    """What a confirmed action did (a double submit lands here too, on the first one's result)."""
    action = get_object_or_404(scoped(ActionRequest.objects.select_related("user", "ticket"), _user(request)), pk=pk)
    labels = {"document": "invoicing.document", "customer": "invoicing.customer"}
    audit_query = (
        urlencode({"object_type": labels[action.object_type], "object_id": action.object_id})
        if action.object_type in labels
        else urlencode({"action": f"support.{action.kind}", "actor": action.user.username})
    )
    context = {
        "action": action,
        "result": action.result,
        "kind_label": ActionKind(action.kind).label,
        "audit_query": audit_query,
    }
    return render(request, "support/action_result.html", context)


# --- API commands (``/api/v1/actions/…``) -------------------------------------------------------------------------


class ActionResultSerializer(serializers.Serializer[ActionRequest]):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    object_type = serializers.CharField()
    object_id = serializers.CharField()
    reason = serializers.CharField()
    created_at = serializers.DateTimeField()
    result = MaskedJSONField()


class PreviewSerializer(serializers.Serializer[Any]):
    preview = MaskedJSONField(help_text=_("确认后将执行的操作（未写入任何数据）"))


class _ReasonSerializer(serializers.Serializer[Any]):
    reason = serializers.CharField(max_length=500, help_text=_("原因（必填，记入审计日志）"))


class _HolderSerializer(_ReasonSerializer):
    holder_name = serializers.CharField(max_length=100, help_text=_("持卡人姓名/名称"))
    holder_id_type = serializers.CharField(max_length=16, help_text=_("证件类型"))
    holder_id_no = serializers.CharField(max_length=32, help_text=_("证件号码"))
    holder_phone = serializers.CharField(max_length=20, help_text=_("持卡人手机号"))


class CardBindSerializer(_HolderSerializer):
    card_no = serializers.CharField(max_length=20, validators=[card_number_validator], help_text=_("ETC卡号"))


class TitleAddSerializer(_ReasonSerializer):
    kind = serializers.ChoiceField(choices=TitleKind.choices, help_text=_("抬头类型"))
    name = serializers.CharField(max_length=200, help_text=_("抬头名称"))
    tax_id = serializers.CharField(
        max_length=20,
        required=False,
        allow_blank=True,
        default="",
        validators=[taxpayer_id_validator],
        help_text=_("纳税人识别号"),
    )
    card_no = serializers.CharField(
        max_length=20,
        required=False,
        allow_blank=True,
        default="",
        validators=[card_number_validator],
        help_text=_("适用卡号（空：账户默认）"),
    )
    email = serializers.EmailField(required=False, allow_blank=True, help_text=_("收票邮箱"))
    address_phone = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    bank_account = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        return {"email": "", **attrs}  # no `default=""` on an e-mail field: the schema's default must be an e-mail


class BindingBackdateSerializer(_ReasonSerializer):
    binding = serializers.IntegerField(min_value=1, help_text=_("绑卡记录"))
    covers_from = serializers.DateField(help_text=_("追溯起点"))


class TitleBackdateSerializer(_ReasonSerializer):
    title = serializers.IntegerField(min_value=1, help_text=_("抬头版本"))
    valid_from = serializers.DateField(help_text=_("生效时间"))


class PrepaidChoiceSerializer(_ReasonSerializer):
    choice = serializers.ChoiceField(choices=PrepaidChoice.choices, help_text=_("开票方式"))


IDEMPOTENCY_HEADER = "Idempotency-Key"


class _ActionCommand(APIView):
    """A support action as a command: ``?preview=1`` answers what it would do (200, nothing written); otherwise it
    runs once per ``Idempotency-Key`` header (a UUID): 201 the first time, 200 with the first result on a repeat."""

    allowed_roles = ACTORS
    kind: str
    input_serializer: type[serializers.Serializer[Any]]

    def target(self, user: User, pk: int) -> Target:
        raise NotImplementedError

    def run(self, request: Request, pk: int) -> Response:
        assert isinstance(request.user, User)
        user = request.user
        form = self.input_serializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = dict(form.validated_data)
        target = self.target(user, pk)
        if request.query_params.get("preview") in ("1", "true"):
            preview = action_preview(kind=self.kind, target=target, data=data, user=user)
            return Response(PreviewSerializer({"preview": preview}).data)
        raw = request.headers.get(IDEMPOTENCY_HEADER)
        try:
            key = uuid.UUID(raw) if raw else uuid.uuid4()
        except ValueError:
            raise ApiValidationError({IDEMPOTENCY_HEADER: [_("应为 UUID")]}) from None
        action, ran = action_confirm(key=key, kind=self.kind, target=target, data=data, user=user, request=request)
        return Response(
            ActionResultSerializer(action).data, status=status.HTTP_201_CREATED if ran else status.HTTP_200_OK
        )


_COMMAND_RESPONSES = {201: ActionResultSerializer, 200: ActionResultSerializer, **DOMAIN_ERRORS}
_IDEMPOTENCY = OpenApiParameter(
    IDEMPOTENCY_HEADER, OpenApiTypes.UUID, OpenApiParameter.HEADER, description=_("幂等键：重复提交返回首次结果")
)
_PREVIEW = OpenApiParameter("preview", OpenApiTypes.BOOL, description=_("只预览，不执行"))


class CardBindCommand(_ActionCommand):
    """Bind a card to the customer (holder data checked against the card's record)."""

    kind = ActionKind.CARD_BIND
    input_serializer = CardBindSerializer

    def target(self, user: User, pk: int) -> Target:
        return customer_target(user, pk)

    @extend_schema(request=CardBindSerializer, responses=_COMMAND_RESPONSES, parameters=[_IDEMPOTENCY, _PREVIEW])
    def post(self, request: Request, pk: int) -> Response:
        return self.run(request, pk)


class CardUnbindCommand(_ActionCommand):
    """End the card's active binding (holder data checked)."""

    kind = ActionKind.CARD_UNBIND
    input_serializer = _HolderSerializer

    def target(self, user: User, pk: int) -> Target:
        return card_target(user, pk)

    @extend_schema(request=_HolderSerializer, responses=_COMMAND_RESPONSES, parameters=[_IDEMPOTENCY, _PREVIEW])
    def post(self, request: Request, pk: int) -> Response:
        return self.run(request, pk)


class TitleAddCommand(_ActionCommand):
    """Add a buyer title version to the customer, in force from now (later trips and top-ups only)."""

    kind = ActionKind.TITLE_ADD
    input_serializer = TitleAddSerializer

    def target(self, user: User, pk: int) -> Target:
        return customer_target(user, pk)

    @extend_schema(request=TitleAddSerializer, responses=_COMMAND_RESPONSES, parameters=[_IDEMPOTENCY, _PREVIEW])
    def post(self, request: Request, pk: int) -> Response:
        return self.run(request, pk)


class PrepaidChoiceCommand(_ActionCommand):
    """Change a prepaid card's invoicing choice (at top-up / per trip) from now on; money already invoiced either
    way is not affected."""

    kind = ActionKind.PREPAID_CHOICE
    input_serializer = PrepaidChoiceSerializer

    def target(self, user: User, pk: int) -> Target:
        return card_target(user, pk)

    @extend_schema(request=PrepaidChoiceSerializer, responses=_COMMAND_RESPONSES, parameters=[_IDEMPOTENCY, _PREVIEW])
    def post(self, request: Request, pk: int) -> Response:
        return self.run(request, pk)


class BindingBackdateCommand(_ActionCommand):
    """Set back the start (追溯起点, 00:00 Beijing time of the date) of one of the customer's card bindings, within
    the request window and not before the card's previous binding ended."""

    kind = ActionKind.BINDING_BACKDATE
    input_serializer = BindingBackdateSerializer

    def target(self, user: User, pk: int) -> Target:
        return customer_target(user, pk)

    @extend_schema(request=BindingBackdateSerializer, responses=_COMMAND_RESPONSES, parameters=[_IDEMPOTENCY, _PREVIEW])
    def post(self, request: Request, pk: int) -> Response:
        return self.run(request, pk)


class TitleBackdateCommand(_ActionCommand):
    """Set back when one of the customer's title versions comes into force (00:00 Beijing time of the date), within
    the request window and after the previous version of the same title."""

    kind = ActionKind.TITLE_BACKDATE
    input_serializer = TitleBackdateSerializer

    def target(self, user: User, pk: int) -> Target:
        return customer_target(user, pk)

    @extend_schema(request=TitleBackdateSerializer, responses=_COMMAND_RESPONSES, parameters=[_IDEMPOTENCY, _PREVIEW])
    def post(self, request: Request, pk: int) -> Response:
        return self.run(request, pk)
