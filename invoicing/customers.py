"""Customer accounts: binding and unbinding ETC cards (holder data checked against the card's record, domain.md
§7.8), adding buyer title versions (抬头, domain.md §4.4: a new version applies to later transactions only) and a
prepaid card's invoicing choice (domain.md §4.12: at top-up or per trip, forward only).

Every write is audited; ID numbers and phones go into the audit trail masked.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from invoicing.issuing import IssuingError
from invoicing.models import BuyerTitle, CardBinding, CardPrepaidChoice, Customer, PrepaidChoice, TitleKind
from piaogen.audit import audit_record
from piaogen.identifiers import CardType, is_taxpayer_id, mask_id_number, mask_phone
from piaogen.models import User
from tolling.models import Card


class CustomerError(IssuingError):
    """A card cannot be bound or unbound, or a title added, as asked (message for the agent)."""


@dataclass(frozen=True)
class HolderData:
    """What the caller states about the card's holder; compared with what was recorded when the card was issued."""

    name: str
    id_type: str
    id_no: str
    phone: str


def _norm(value: str) -> str:
    return "".join(value.split()).upper()


def card_holder_check(*, card: Card, holder: HolderData) -> None:
    """Raise ``CustomerError`` unless name, ID type, ID number and phone all match the card's recorded holder."""
    recorded = (card.holder_name, card.holder_id_type, card.holder_id_no, card.holder_phone)
    if not all(recorded):
        raise CustomerError(_("卡%(card_no)s没有完整的持卡人登记信息，请联系发行方"), code="holder_unknown",
                            params={"card_no": card.card_no})  # fmt: skip
    stated = (holder.name, holder.id_type, holder.id_no, holder.phone)
    mismatched = [
        str(label)
        for label, mine, theirs in zip(
            (_("持卡人"), _("证件类型"), _("证件号码"), _("手机号")), stated, recorded, strict=True
        )
        if _norm(mine) != _norm(theirs)
    ]
    if mismatched:
        raise CustomerError(
            _("持卡人信息与发卡登记不符：%(fields)s"),
            code="holder_mismatch",
            params={"fields": str(_("、")).join(mismatched)},
        )


def _card(card_no: str) -> Card:
    card = Card.objects.filter(card_no=card_no.strip()).first()
    if card is None:
        raise CustomerError(_("找不到ETC卡%(card_no)s"), code="card_not_found", params={"card_no": card_no})
    return card


def _lock_card(card_no: str) -> None:
    """Serialize binding changes per card (a double submit waits, then sees the first one's binding)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"card-binding:{card_no}"])


def _binding_json(binding: CardBinding | None) -> dict[str, object] | None:
    if binding is None:
        return None
    return {
        "binding": binding.pk,
        "customer": binding.customer_id,
        "card_no": binding.card_no,
        "bound_at": binding.bound_at.isoformat(),
        "unbound_at": binding.unbound_at.isoformat() if binding.unbound_at else None,
    }


def _holder_json(holder: HolderData) -> dict[str, str]:
    return {"id_type": holder.id_type, "id_no": mask_id_number(holder.id_no), "phone": mask_phone(holder.phone)}


@transaction.atomic
def card_bind(*, customer: Customer, card_no: str, holder: HolderData, reason: str, by: User | None) -> CardBinding:
    """Bind ``card_no`` to ``customer`` from now on, when the stated holder data match the card's record and the
    card is not bound to an account now. Trips before the binding stay with whoever held the card then."""
    if not reason.strip():
        raise CustomerError(_("请填写原因"), code="reason_required")
    card = _card(card_no)
    _lock_card(card.card_no)
    card_holder_check(card=card, holder=holder)
    active = CardBinding.objects.filter(card_no=card.card_no, unbound_at__isnull=True).first()
    if active is not None:
        if active.customer_id == customer.pk:
            raise CustomerError(_("卡%(card_no)s已绑定该客户"), code="already_bound", params={"card_no": card.card_no})
        raise CustomerError(
            _("卡%(card_no)s已绑定其他账户，请先解绑"), code="bound_elsewhere", params={"card_no": card.card_no}
        )
    binding = CardBinding.objects.create(customer=customer, card_no=card.card_no, bound_at=timezone.now())
    audit_record(
        actor=by,
        action="card.bind",
        obj=binding,
        province=card.province,
        reason=reason,
        before=None,
        after={**(_binding_json(binding) or {}), "holder": _holder_json(holder)},
    )
    return binding


@transaction.atomic
def card_unbind(*, card_no: str, holder: HolderData, reason: str, by: User | None) -> CardBinding:
    """End the card's active binding now (holder data checked like binding). Past trips keep their account."""
    if not reason.strip():
        raise CustomerError(_("请填写原因"), code="reason_required")
    card = _card(card_no)
    _lock_card(card.card_no)
    card_holder_check(card=card, holder=holder)
    binding = CardBinding.objects.select_for_update().filter(card_no=card.card_no, unbound_at__isnull=True).first()
    if binding is None:
        raise CustomerError(_("卡%(card_no)s当前未绑定任何账户"), code="not_bound", params={"card_no": card.card_no})
    before = _binding_json(binding)
    binding.unbound_at = max(timezone.now(), binding.bound_at)
    binding.save(update_fields=["unbound_at"])
    audit_record(
        actor=by,
        action="card.unbind",
        obj=binding,
        province=card.province,
        reason=reason,
        before=before,
        after={**(_binding_json(binding) or {}), "holder": _holder_json(holder)},
    )
    return binding


@transaction.atomic
def buyer_title_add(
    *,
    customer: Customer,
    kind: str,
    name: str,
    tax_id: str = "",
    card_no: str = "",
    email: str = "",
    address_phone: str = "",
    bank_account: str = "",
    reason: str,
    by: User | None,
) -> BuyerTitle:
    """A new title version for the account (``card_no`` blank) or one of its cards, in force from now: it applies
    to later trips and top-ups only; documents already issued change only by 换票."""
    if not reason.strip():
        raise CustomerError(_("请填写原因"), code="reason_required")
    name, tax_id, card_no = name.strip(), tax_id.strip().upper(), card_no.strip()
    if not name:
        raise CustomerError(_("请填写抬头名称"), code="title_name_required")
    if kind not in TitleKind.values:
        raise CustomerError(_("抬头类型无效"), code="title_kind_invalid")
    if kind == TitleKind.COMPANY and not tax_id:
        raise CustomerError(_("单位抬头必须填写纳税人识别号"), code="title_tax_id_required")
    if tax_id and not is_taxpayer_id(tax_id):
        raise CustomerError(_("纳税人识别号无效：%(tax_id)s"), code="title_tax_id_invalid", params={"tax_id": tax_id})
    if card_no and not CardBinding.objects.filter(customer=customer, card_no=card_no).exists():
        raise CustomerError(_("卡%(card_no)s未绑定过该客户"), code="title_foreign_card", params={"card_no": card_no})
    previous = (
        BuyerTitle.objects.filter(customer=customer, card_no=card_no, valid_from__lte=timezone.now())
        .order_by("-valid_from")
        .first()
    )
    title = BuyerTitle.objects.create(
        customer=customer,
        card_no=card_no,
        kind=kind,
        name=name,
        tax_id=tax_id,
        email=email.strip(),
        address_phone=address_phone.strip(),
        bank_account=bank_account.strip(),
        valid_from=timezone.now(),
        created_by=by,
    )
    audit_record(
        actor=by,
        action="buyer_title.add",
        obj=title,
        object_type="invoicing.customer",
        object_id=str(customer.pk),
        province=customer.province,
        reason=reason,
        before={"title": previous.pk, "name": previous.name, "tax_id": previous.tax_id} if previous else None,
        after={"title": title.pk, "name": title.name, "tax_id": title.tax_id, "card_no": card_no},
    )
    return title


def prepaid_choice_in_force(card_no: str, at: dt.datetime | None = None) -> CardPrepaidChoice | None:
    """The card's choice version in force at ``at`` (default now); None: never chosen, i.e. per trip."""
    return (
        CardPrepaidChoice.objects.filter(card_no=card_no, valid_from__lte=at or timezone.now())
        .order_by("-valid_from")
        .first()
    )


def prepaid_choice_history(card_no: str) -> list[CardPrepaidChoice]:
    """Every version of the card's choice, newest first (the card page)."""
    return list(CardPrepaidChoice.objects.filter(card_no=card_no).select_related("created_by").order_by("-valid_from"))


@transaction.atomic
def prepaid_choice_set(*, card_no: str, choice: str, reason: str, by: User | None) -> CardPrepaidChoice:
    """The holder of prepaid card ``card_no`` chooses how its money is invoiced from now on (domain.md §4.12):
    ``AT_TOPUP``, the daily run issues each later top-up's non-taxable invoice; ``PER_TRIP``, top-ups are invoiced
    only on request and the trips they pay are invoiced instead. Money already invoiced either way is untouched: an
    invoiced top-up keeps its trips ineligible, invoiced trips keep their top-up ineligible (FIFO, §4.3). The
    account is the card's active binding's, if any. Audited."""
    if not reason.strip():
        raise CustomerError(_("请填写原因"), code="reason_required")
    if choice not in PrepaidChoice.values:
        raise CustomerError(_("开票方式无效"), code="prepaid_choice_invalid")
    card = _card(card_no)
    if card.card_type != CardType.PREPAID:
        raise CustomerError(
            _("卡%(card_no)s不是储值卡，没有充值开票方式"), code="not_prepaid", params={"card_no": card.card_no}
        )
    _lock_card(card.card_no)
    current = prepaid_choice_in_force(card.card_no)
    if (current.choice if current else PrepaidChoice.PER_TRIP) == choice:
        raise CustomerError(
            _("卡%(card_no)s的开票方式已是“%(choice)s”"),
            code="prepaid_choice_unchanged",
            params={"card_no": card.card_no, "choice": PrepaidChoice(choice).label},
        )
    binding = CardBinding.objects.filter(card_no=card.card_no, unbound_at__isnull=True).first()
    version = CardPrepaidChoice.objects.create(
        card_no=card.card_no,
        choice=choice,
        valid_from=timezone.now(),
        customer_id=binding.customer_id if binding else None,
        reason=reason.strip(),
        created_by=by,
    )
    audit_record(
        actor=by,
        action="card.prepaid_choice",
        obj=card,
        province=card.province,
        reason=reason,
        before={"choice": current.choice if current else None, "version": current.pk if current else None},
        after={"choice": version.choice, "version": version.pk, "valid_from": version.valid_from.isoformat()},
    )
    return version
