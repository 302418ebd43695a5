"""Customer accounts: binding and unbinding ETC cards (holder data checked against the card's record, domain.md
§7.8), adding buyer title versions (抬头, domain.md §4.4: a new version applies to later transactions only) and a
prepaid card's invoicing choice (domain.md §4.12: at top-up or per trip, forward only).

Every write is audited; ID numbers and phones go into the audit trail masked.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from invoicing.issuing import IssuingError
from invoicing.models import BuyerTitle, CardBinding, CardPrepaidChoice, Customer, PrepaidChoice, TitleKind
from piaogen.audit import audit_record
from piaogen.identifiers import CardType, is_taxpayer_id
from piaogen.models import User
from piaogen.privacy import Pii, shown
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


def request_window_start(now: dt.datetime | None = None) -> dt.datetime:
    """The earliest time a binding or a title can reach back to (``PIAOGEN["REQUEST_WINDOW_DAYS"]`` before now)."""
    return (now or timezone.now()) - dt.timedelta(days=settings.PIAOGEN["REQUEST_WINDOW_DAYS"])


def _previous_end(card_no: str, *, before: dt.datetime, exclude: int | None = None) -> dt.datetime | None:
    """When the card's latest binding made before ``before`` ended (None: none did)."""
    earlier = CardBinding.objects.filter(card_no=card_no, bound_at__lt=before, unbound_at__isnull=False)
    if exclude is not None:
        earlier = earlier.exclude(pk=exclude)
    return earlier.order_by("-unbound_at").values_list("unbound_at", flat=True).first()


def _earliest_cover(card_no: str, bound_at: dt.datetime, exclude: int | None = None) -> dt.datetime:
    """The earliest ``covers_from`` of a binding of the card made at ``bound_at``: the request window's start or
    the previous binding's end, whichever is later (never after ``bound_at``)."""
    start = request_window_start()
    previous = _previous_end(card_no, before=bound_at, exclude=exclude)
    return min(bound_at, max(start, previous) if previous else start)


def _binding_json(binding: CardBinding | None) -> dict[str, object] | None:
    if binding is None:
        return None
    return {
        "binding": binding.pk,
        "customer": binding.customer_id,
        "card_no": binding.card_no,
        "bound_at": binding.bound_at.isoformat(),
        "unbound_at": binding.unbound_at.isoformat() if binding.unbound_at else None,
        "covers_from": binding.covers_from.isoformat() if binding.covers_from else None,
    }


def _holder_json(holder: HolderData) -> dict[str, str]:
    return {"id_type": holder.id_type, "id_no": shown(Pii.ID_NO, holder.id_no), "phone": shown(Pii.PHONE, holder.phone)}


@transaction.atomic
def card_bind(*, customer: Customer, card_no: str, holder: HolderData, reason: str, by: User | None) -> CardBinding:
    """Bind ``card_no`` to ``customer`` when the stated holder data match the card's record and the card is not
    bound to an account now. The binding reaches back (domain.md §4.11): the card's uninvoiced trips and top-ups
    since the start of the request window, or the end of its previous binding if later, become the customer's
    (``covers_from``); what a previous holder's binding covered stays theirs."""
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
    now = timezone.now()
    binding = CardBinding.objects.create(
        customer=customer, card_no=card.card_no, bound_at=now, covers_from=_earliest_cover(card.card_no, now)
    )
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
    one_document: bool = False,
) -> BuyerTitle:
    """A new title version for the account (``card_no`` blank) or one of its cards, in force from now: it applies
    to later trips and top-ups only; documents already issued change only by 换票. With ``one_document`` the title
    is for one reissued document only and never in force (ADR 0008): the customer's title stays as it was."""
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
        BuyerTitle.objects.filter(
            customer=customer, card_no=card_no, valid_from__lte=timezone.now(), one_document=False
        )
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
        one_document=one_document,
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
        after={"title": title.pk, "name": title.name, "tax_id": title.tax_id, "card_no": card_no}
        | ({"one_document": True} if one_document else {}),
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


@transaction.atomic
def card_binding_backdate(
    *, binding: CardBinding, covers_from: dt.datetime, reason: str, by: User | None
) -> CardBinding:
    """Set back the time from which ``binding`` covers its card's transactions (an agent, for a customer whose card
    was bound before binding reached back, or who asks for more of the window): no earlier than the request
    window's start or the card's previous binding's end, and earlier than now. Only uninvoiced items change hands.
    Audited."""
    if not reason.strip():
        raise CustomerError(_("请填写原因"), code="reason_required")
    _lock_card(binding.card_no)
    binding = CardBinding.objects.select_for_update().get(pk=binding.pk)
    earliest = _earliest_cover(binding.card_no, binding.bound_at, exclude=binding.pk)
    if covers_from >= binding.covers_since:
        raise CustomerError(
            _("只能提前：当前自%(since)s起"),
            code="backdate_not_earlier",
            params={"since": timezone.localtime(binding.covers_since).strftime("%Y-%m-%d %H:%M")},
        )
    if covers_from < earliest:
        raise CustomerError(
            _("最早只能提前到%(earliest)s（申请期限或上一次绑定的解绑时间）"),
            code="backdate_too_early",
            params={"earliest": timezone.localtime(earliest).strftime("%Y-%m-%d %H:%M")},
        )
    before = _binding_json(binding)
    binding.covers_from = covers_from
    binding.save(update_fields=["covers_from"])
    audit_record(
        actor=by,
        action="card_binding.backdate",
        obj=binding,
        province=binding.customer.province,
        reason=reason,
        before=before,
        after=_binding_json(binding),
    )
    return binding


@transaction.atomic
def buyer_title_backdate(*, title: BuyerTitle, valid_from: dt.datetime, reason: str, by: User | None) -> BuyerTitle:
    """Set back the time from which a title version is in force (an agent, when the customer gave the title for an
    earlier date): within the request window, and after the previous version of the same series (account default
    or card), so versions keep their order. Documents already issued keep their title (换票 changes those).
    Audited."""
    if not reason.strip():
        raise CustomerError(_("请填写原因"), code="reason_required")
    title = BuyerTitle.objects.select_for_update().get(pk=title.pk)
    if valid_from >= title.valid_from:
        raise CustomerError(
            _("只能提前：当前自%(since)s起"),
            code="backdate_not_earlier",
            params={"since": timezone.localtime(title.valid_from).strftime("%Y-%m-%d %H:%M")},
        )
    previous = (
        BuyerTitle.objects.filter(
            customer_id=title.customer_id, card_no=title.card_no, valid_from__lt=title.valid_from, one_document=False
        )
        .order_by("-valid_from")
        .values_list("valid_from", flat=True)
        .first()
    )
    earliest = request_window_start()
    if valid_from < earliest or (previous is not None and valid_from <= previous):
        limit = max(earliest, previous) if previous is not None else earliest
        raise CustomerError(
            _("最早只能提前到%(earliest)s（申请期限或上一抬头版本的生效时间之后）"),
            code="backdate_too_early",
            params={"earliest": timezone.localtime(limit).strftime("%Y-%m-%d %H:%M")},
        )
    before = {"title": title.pk, "valid_from": title.valid_from.isoformat()}
    title.valid_from = valid_from
    title.save(update_fields=["valid_from"])
    audit_record(
        actor=by,
        action="buyer_title.backdate",
        obj=title,
        object_type="invoicing.customer",
        object_id=str(title.customer_id),
        province=title.customer.province,
        reason=reason,
        before=before,
        after={"title": title.pk, "valid_from": title.valid_from.isoformat()},
    )
    return title
