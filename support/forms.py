"""Forms of the support workbench: one per action (each with a reason and an idempotency key), tickets, saved
filters and the PII reveal."""

from __future__ import annotations

import re
import uuid
from typing import Any

from django import forms
from django.db.models import Model
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from invoicing.claims import ClaimKind
from invoicing.models import BuyerTitle, CardBinding, Customer, Document, PrepaidChoice, TitleKind
from piaogen.identifiers import PlateColor, card_number_validator, taxpayer_id_validator
from piaogen.models import Role, User
from piaogen.money import parse_yuan
from support.actions import Target
from support.models import SavedFilter, TicketCategory, TicketStatus

KEY_SEPARATORS = re.compile(r"[\s,，;；、]+")


class ActionForm(forms.Form):
    """Reason and idempotency key, common to every action; ``target`` is the record acted on."""

    key = forms.UUIDField(widget=forms.HiddenInput)
    reason = forms.CharField(
        label=_("原因"), max_length=500, widget=forms.Textarea(attrs={"rows": 2}), help_text=_("必填，记入审计日志")
    )

    def __init__(self, *args: Any, target: Target, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {}).setdefault("key", uuid.uuid4())
        super().__init__(*args, **kwargs)
        self.target = target
        self.order_fields([*(name for name in self.fields if name != "reason"), "reason"])  # the reason last

    def clean_reason(self) -> str:
        reason = str(self.cleaned_data["reason"]).strip()
        if not reason:
            raise forms.ValidationError(_("请填写原因"))
        return reason

    def hidden_values(self) -> list[tuple[str, str]]:
        """The cleaned values as (name, text) pairs, for the confirm step's hidden inputs."""
        out = []
        for name in self.fields:
            value = self.cleaned_data.get(name)
            if isinstance(value, list):
                text = ",".join(str(v) for v in value)
            elif isinstance(value, Model):
                text = str(value.pk)
            elif value is None:
                text = ""
            else:
                text = str(value)
            out.append((name, text))
        return out


def _keys(text: str) -> list[str]:
    return list(dict.fromkeys(k for k in KEY_SEPARATORS.split(text.strip()) if k))


def _customer_cards(customer: Customer) -> list[tuple[str, str]]:
    cards = (
        CardBinding.objects.filter(customer=customer).order_by("card_no").values_list("card_no", flat=True).distinct()
    )
    return [(card_no, card_no) for card_no in cards]


def _card_choices(target: Target) -> list[tuple[str, str]]:
    if isinstance(target.obj, Customer):
        return _customer_cards(target.obj)
    card_no = str(getattr(target.obj, "card_no", ""))
    return [(card_no, card_no)] if card_no else []


class ResendForm(ActionForm):
    address = forms.EmailField(label=_("收件邮箱"), required=False, help_text=_("留空：抬头的收票邮箱，否则客户邮箱"))


class ReverseForm(ActionForm):
    pass


class ReissueForm(ActionForm):
    title = forms.ModelChoiceField(
        label=_("改用已有抬头"), queryset=BuyerTitle.objects.none(), required=False, empty_label=_("（新填抬头）")
    )
    new_kind = forms.ChoiceField(label=_("抬头类型"), choices=TitleKind.choices, required=False)
    new_name = forms.CharField(
        label=_("正确的抬头名称"),
        max_length=200,
        required=False,
        help_text=_("新填的抬头只用于这张换开的票据，除非勾选下面的选项"),
    )
    new_tax_id = forms.CharField(
        label=_("纳税人识别号"), max_length=20, required=False, validators=[taxpayer_id_validator]
    )
    as_default = forms.BooleanField(
        label=_("同时设为该客户今后的抬头"),
        required=False,
        help_text=_("勾选后，新填的抬头对该客户之后的通行和充值生效"),
    )

    def __init__(self, *args: Any, target: Target, **kwargs: Any) -> None:
        super().__init__(*args, target=target, **kwargs)
        document = target.obj
        assert isinstance(document, Document)
        titles = BuyerTitle.objects.none()
        if document.customer_id is not None:
            titles = BuyerTitle.objects.filter(customer_id=document.customer_id).exclude(pk=document.title_id or 0)
        self.fields["title"].queryset = titles.order_by("-valid_from")  # type: ignore[attr-defined]
        self.document = document
        if not self.is_bound:  # the current title, to correct in place
            kind = document.title.kind if document.title is not None else ""
            self.initial.setdefault("new_name", document.buyer_name)
            self.initial.setdefault("new_tax_id", document.buyer_tax_id)
            self.initial.setdefault(
                "new_kind", kind or (TitleKind.COMPANY if document.buyer_tax_id else TitleKind.PERSON)
            )

    def clean(self) -> dict[str, Any]:
        """An existing title chosen wins over the typed one (pre-filled with the current title); a typed title
        must differ from the document's."""
        data = super().clean() or {}
        if data.get("title") is not None:
            data.update(new_name="", new_tax_id="", new_kind="")
            return data
        name, tax_id = (data.get("new_name") or "").strip(), (data.get("new_tax_id") or "").strip().upper()
        if not name:
            raise forms.ValidationError(_("请选择一个已有抬头，或填写正确的抬头名称（二选一）"))
        if (name, tax_id) == (self.document.buyer_name, self.document.buyer_tax_id):
            raise forms.ValidationError(_("抬头与原票据相同，请修改后再换票"))
        if not data.get("new_kind"):
            data["new_kind"] = TitleKind.COMPANY if tax_id else TitleKind.PERSON
        return data


class _CardKeysForm(ActionForm):
    card_no = forms.ChoiceField(label=_("ETC卡号"))

    def __init__(self, *args: Any, target: Target, **kwargs: Any) -> None:
        super().__init__(*args, target=target, **kwargs)
        self.fields["card_no"].choices = _card_choices(target)  # type: ignore[attr-defined]

    def clean_keys(self) -> list[str]:
        keys = _keys(self.cleaned_data.get("keys") or "")
        if len(keys) > 1000:
            raise forms.ValidationError(_("一次最多1000条"))
        return keys


class RequestInvoicesForm(_CardKeysForm):
    what = forms.ChoiceField(
        label=_("开票类型"), choices=[("trips", _("按通行（消费）")), ("topups", _("按充值"))], initial="trips"
    )
    keys = forms.CharField(
        label=_("通行标识或充值流水号"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("每行一个（一次通行的某一段写作“通行标识#段号”）；留空则为该卡所有可开票的明细"),
    )


class SummarySheetForm(_CardKeysForm):
    keys = forms.CharField(
        label=_("通行标识"), widget=forms.Textarea(attrs={"rows": 3}), help_text=_("每行一个，须为该卡已开票的通行")
    )

    def clean_keys(self) -> list[str]:
        keys = super().clean_keys()
        if not keys:
            raise forms.ValidationError(_("请至少填写一个通行标识"))
        return keys


class HolderForm(ActionForm):
    holder_name = forms.CharField(label=_("持卡人姓名/名称"), max_length=100)
    holder_id_type = forms.CharField(label=_("证件类型"), max_length=16, initial="身份证")
    holder_id_no = forms.CharField(label=_("证件号码"), max_length=32)
    holder_phone = forms.CharField(label=_("持卡人手机号"), max_length=20)


class CardBindForm(HolderForm):
    card_no = forms.CharField(label=_("ETC卡号"), max_length=20, validators=[card_number_validator])
    field_order = ["key", "card_no", "holder_name", "holder_id_type", "holder_id_no", "holder_phone"]


class CardUnbindForm(HolderForm):
    pass


class TitleAddForm(ActionForm):
    kind = forms.ChoiceField(label=_("抬头类型"), choices=TitleKind.choices)
    name = forms.CharField(label=_("抬头名称"), max_length=200)
    tax_id = forms.CharField(label=_("纳税人识别号"), max_length=20, required=False, validators=[taxpayer_id_validator])
    card_no = forms.ChoiceField(label=_("适用卡号"), required=False)
    email = forms.EmailField(label=_("收票邮箱"), required=False)
    address_phone = forms.CharField(label=_("地址电话"), max_length=200, required=False)
    bank_account = forms.CharField(label=_("开户行及账号"), max_length=200, required=False)
    field_order = ["key", "kind", "name", "tax_id", "card_no", "email", "address_phone", "bank_account"]

    def __init__(self, *args: Any, target: Target, **kwargs: Any) -> None:
        super().__init__(*args, target=target, **kwargs)
        self.fields["card_no"].choices = [("", _("账户默认抬头")), *_card_choices(target)]  # type: ignore[attr-defined]


class ClaimForm(ActionForm):
    """代客开票: the item the caller reads out (number + second factor) and the buyer: one of the customer's titles
    or a new one (added to the customer's titles, validated like every title)."""

    claim_kind = forms.ChoiceField(label=_("开票类型"), choices=ClaimKind.choices)
    number = forms.CharField(
        label=_("票据号、行程号或补费流水号"), max_length=64, help_text=_("纸质票据号、出租车行程号或稽核补费流水号")
    )
    plate = forms.CharField(
        label=_("车牌号"), max_length=20, required=False, help_text=_("纸质票据、稽核补费必填；出租车可填出租车车牌")
    )
    plate_color = forms.TypedChoiceField(
        label=_("车牌颜色"),
        choices=[("", _("（不核对）")), *PlateColor.choices],
        coerce=int,
        empty_value=None,
        required=False,
    )
    amount = forms.CharField(
        label=_("金额（元）"), max_length=16, required=False, help_text=_("出租车：金额或出租车车牌至少填一项")
    )
    title = forms.ModelChoiceField(
        label=_("抬头"), queryset=BuyerTitle.objects.none(), required=False, empty_label=_("（新填抬头）")
    )
    new_kind = forms.ChoiceField(label=_("新抬头类型"), choices=TitleKind.choices, required=False)
    new_name = forms.CharField(label=_("新抬头名称"), max_length=200, required=False)
    new_tax_id = forms.CharField(label=_("新抬头纳税人识别号"), max_length=20, required=False)

    def __init__(self, *args: Any, target: Target, **kwargs: Any) -> None:
        super().__init__(*args, target=target, **kwargs)
        customer = target.obj
        assert isinstance(customer, Customer)
        titles = BuyerTitle.objects.filter(customer=customer).order_by("card_no", "-valid_from")
        self.fields["title"].queryset = titles  # type: ignore[attr-defined]

    def clean_amount(self) -> str:
        text = (self.cleaned_data.get("amount") or "").strip()
        if text:
            parse_yuan(text, allow_zero=False)  # kept as typed: the confirm step posts it again
        return text

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        kind = data.get("claim_kind")
        if kind == ClaimKind.TAXI_RIDE:
            if not data.get("amount") and not (data.get("plate") or "").strip():
                self.add_error("amount", _("请填写金额或出租车车牌"))
        elif kind and not (data.get("plate") or "").strip():
            self.add_error("plate", _("请填写车牌号"))
        has_title, has_name = data.get("title") is not None, bool((data.get("new_name") or "").strip())
        if has_title == has_name:
            raise forms.ValidationError(_("请选择一个已有抬头，或填写新抬头名称（二选一）"))
        if has_name and not data.get("new_kind"):
            data["new_kind"] = TitleKind.COMPANY if data.get("new_tax_id") else TitleKind.PERSON
        return data


class _CustomerRowChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj: Model) -> str:
        if isinstance(obj, CardBinding):
            return str(_("卡%(card_no)s，%(bound)s绑定") % {"card_no": obj.card_no, "bound": _local(obj.bound_at)})
        assert isinstance(obj, BuyerTitle)
        return str(_("%(name)s，%(since)s起") % {"name": obj.name, "since": _local(obj.valid_from)})


def _local(at: Any) -> str:
    return str(timezone.localtime(at).strftime("%Y-%m-%d %H:%M"))


class BindingBackdateForm(ActionForm):
    binding = _CustomerRowChoice(label=_("绑卡记录"), queryset=CardBinding.objects.none())
    covers_from = forms.DateField(
        label=_("追溯起点"), help_text=_("北京时间该日0时起；不早于申请期限起点和该卡上一次绑定的解绑时间")
    )

    def __init__(self, *args: Any, target: Target, **kwargs: Any) -> None:
        super().__init__(*args, target=target, **kwargs)
        bindings = CardBinding.objects.filter(customer=target.obj).order_by("-bound_at")
        self.fields["binding"].queryset = bindings  # type: ignore[attr-defined]


class TitleBackdateForm(ActionForm):
    title = _CustomerRowChoice(label=_("抬头版本"), queryset=BuyerTitle.objects.none())
    valid_from = forms.DateField(
        label=_("生效时间"), help_text=_("北京时间该日0时起；在申请期限内，且晚于同一抬头的上一版本")
    )

    def __init__(self, *args: Any, target: Target, **kwargs: Any) -> None:
        super().__init__(*args, target=target, **kwargs)
        titles = BuyerTitle.objects.filter(customer=target.obj).order_by("-valid_from")
        self.fields["title"].queryset = titles  # type: ignore[attr-defined]


class PrepaidChoiceForm(ActionForm):
    choice = forms.ChoiceField(
        label=_("开票方式"),
        choices=PrepaidChoice.choices,
        help_text=_("自确认时起对之后的充值生效；已开票的充值或通行不受影响"),
    )


# --- tickets ------------------------------------------------------------------------------------------------------


def _agents() -> Any:
    return User.objects.filter(is_active=True, role__in=[Role.AGENT, Role.MAINTAINER]).order_by("username")


class TicketForm(forms.Form):
    category = forms.ChoiceField(
        label=_("类别"), choices=TicketCategory.choices, help_text=_("应完成时间按类别的处理时限自动计算")
    )
    subject = forms.CharField(label=_("主题"), max_length=200)
    description = forms.CharField(label=_("描述"), required=False, widget=forms.Textarea(attrs={"rows": 4}))
    assignee = forms.ModelChoiceField(
        label=_("处理人"), queryset=User.objects.none(), required=False, empty_label=_("未分配")
    )
    customer = forms.IntegerField(widget=forms.HiddenInput, required=False)
    object_type = forms.CharField(widget=forms.HiddenInput, required=False, max_length=32)
    object_key = forms.CharField(widget=forms.HiddenInput, required=False, max_length=64)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = _agents()  # type: ignore[attr-defined]


class TicketUpdateForm(forms.Form):
    status = forms.ChoiceField(label=_("状态"), choices=TicketStatus.choices)
    assignee = forms.ModelChoiceField(
        label=_("处理人"), queryset=User.objects.none(), required=False, empty_label=_("未分配")
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = _agents()  # type: ignore[attr-defined]


class TicketNoteForm(forms.Form):
    body = forms.CharField(label=_("备注"), widget=forms.Textarea(attrs={"rows": 3}))


class TicketLinkForm(forms.Form):
    object_type = forms.ChoiceField(
        label=_("对象类型"),
        choices=[
            ("customer", _("客户")),
            ("card", _("ETC卡")),
            ("trip", _("通行")),
            ("document", _("票据")),
            ("sheet", _("汇总单")),
            ("batch", _("上传批次")),
        ],
    )
    object_key = forms.CharField(label=_("对象标识"), max_length=64)


class SavedFilterForm(forms.ModelForm):
    class Meta:
        model = SavedFilter
        fields = ["name", "query", "shared"]
        widgets = {"query": forms.HiddenInput}


class PiiRevealForm(forms.Form):
    reason = forms.CharField(label=_("查看原因"), max_length=500, widget=forms.Textarea(attrs={"rows": 2}))
    next = forms.CharField(widget=forms.HiddenInput, required=False)

    def clean_reason(self) -> str:
        reason = str(self.cleaned_data["reason"]).strip()
        if not reason:
            raise forms.ValidationError(_("请填写查看原因"))
        return reason
