"""Support actions (J3): resend, request invoices, reissue with a corrected title (换票), red-letter reversal (红冲),
summary sheet, bind / unbind a card, add a title version, claim a paper ticket, taxi ride or back-charge for a
caller (代客开票) — each through the invoicing services.

- **Preview** (``action_preview``) runs the very same service inside a savepoint that is always rolled back, and
  returns what it did as plain data (documents with amounts and tax, the sheet, the binding…): the agent sees
  exactly what the confirm will do, and nothing is written. Resend is the exception (an e-mail cannot be rolled
  back): its preview says where the document would go.
- **Confirm** (``action_confirm``) inserts an ``ActionRequest`` under the form's idempotency key in the same
  transaction as the action. A second submit of the key waits on the unique index until the first commits, then
  returns the first one's request (and result) without acting again; if the first failed, nothing of it remains
  and the second runs on its own.
- Every confirmed action writes an ``AuditEvent`` (before → after, reason, IP) and, with a ticket, a note on it
  and links from it to the records the action touched.
- Domain errors are ``IssuingError``s (``ValidationError``): the forms show them; nothing is written.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.http import Http404, HttpRequest
from django.utils.translation import gettext as _

from invoicing.claims import ClaimItem, ClaimKind, NewTitle, invoice_claim
from invoicing.customers import (
    HolderData,
    buyer_title_add,
    buyer_title_backdate,
    card_bind,
    card_binding_backdate,
    card_unbind,
    prepaid_choice_set,
)
from invoicing.delivery import delivery_address, delivery_send
from invoicing.eligibility import BEIJING, beijing_today, segment_states, topup_states
from invoicing.issuing import IssuingError, document_reissue, document_reverse
from invoicing.models import BuyerTitle, CardBinding, Customer, Document, DocumentStatus, PrepaidChoice
from invoicing.requests import invoice_request_issue
from invoicing.selectors import documents_for
from invoicing.sheets import summary_sheet_issue
from piaogen.access import scoped
from piaogen.audit import audit_record
from piaogen.models import Role, User
from piaogen.money import parse_yuan
from piaogen.privacy import Pii, mask_json, revealed, shown
from piaogen.templatetags.console import tax_rate as tax_rate_label
from support.models import ActionKind, ActionRequest, Ticket, TicketLink, TicketNote
from support.privacy import pii_revealed
from tolling.models import Card, Segment, TopUp

ACTORS = (Role.AGENT, Role.MAINTAINER)
"""Who acts: support agents and maintainers. Managers and province users read only (403 on every action)."""

REQUEST_LOOKBACK_DAYS = 400
"""'Request invoices' without a list looks at the card's trips and top-ups of this many days back."""

MAX_ITEMS = 1000


# --- targets ------------------------------------------------------------------------------------------------------


@dataclass
class Target:
    """The record an action is about, as the user may reach it."""

    object_type: str  # "document", "customer", "card" (TicketLink.object_type)
    object_key: str
    province: str
    obj: Any

    def snapshot(self) -> dict[str, Any]:
        """The record's state before the action, for the audit trail (PII masked)."""
        obj = self.obj
        if isinstance(obj, Document):
            return {"number": str(obj), "status": obj.status, "title": obj.title_id, "buyer_name": obj.buyer_name}
        if isinstance(obj, Customer):
            cards = CardBinding.objects.filter(customer=obj, unbound_at__isnull=True).order_by("card_no")
            titles = BuyerTitle.objects.filter(customer=obj).count()
            return {"customer": obj.pk, "cards": list(cards.values_list("card_no", flat=True)), "titles": titles}
        assert isinstance(obj, Card)
        binding = CardBinding.objects.filter(card_no=obj.card_no, unbound_at__isnull=True).first()
        return {"card_no": obj.card_no, "customer": binding.customer_id if binding else None}


def _scoped_get(queryset: QuerySet[Any], user: User, **lookup: Any) -> Any:
    obj = scoped(queryset, user).filter(**lookup).first()
    if obj is None:
        raise Http404
    return obj


def document_target(user: User, pk: int) -> Target:
    """A document the user may act on (province-scoped by the seller's province); 404 otherwise."""
    document = documents_for(user).filter(pk=pk).select_related("customer", "title", "seller").first()
    if document is None:
        raise Http404
    return Target("document", str(document.pk), document.province, document)


def customer_target(user: User, pk: int) -> Target:
    """A customer the user may act on (province-scoped by the account's province); 404 otherwise."""
    customer = _scoped_get(Customer.objects.all(), user, pk=pk)
    return Target("customer", str(customer.pk), customer.province, customer)


def card_target(user: User, pk: int) -> Target:
    """A card the user may act on (province-scoped by the issuing province); 404 otherwise."""
    card = _scoped_get(Card.objects.all(), user, pk=pk)
    return Target("card", card.card_no, card.province, card)


# --- what an action did, as plain data ----------------------------------------------------------------------------


def document_json(document: Document, *, new: bool = False) -> dict[str, Any]:
    """A document as shown on preview and result pages; ``new``: created by the action (in a preview its id and
    number are not final)."""
    return {
        "id": document.pk,
        "new": new,
        "number": str(document),
        "kind": document.get_kind_display(),
        "status": document.status,
        "status_label": document.get_status_display(),
        "seller_name": document.seller_name,
        "buyer_name": document.buyer_name,
        "buyer_tax_id": document.buyer_tax_id,
        "tax_rate": str(document.tax_rate) if document.tax_rate is not None else None,
        "tax_rate_label": tax_rate_label(document.tax_rate),
        "amount_net": document.amount_net,
        "amount_tax": document.amount_tax,
        "amount_gross": document.amount_gross,
    }


@dataclass
class Outcome:
    summary: str  # what was done (result page, ticket note, audit)
    plan: str = ""  # what confirming will do (preview page): no numbers that are only drawn at confirm
    documents: list[dict[str, Any]] = field(default_factory=list)
    sheet: dict[str, Any] | None = None
    binding: dict[str, Any] | None = None
    title: dict[str, Any] | None = None
    delivery: dict[str, Any] | None = None
    rejected: list[dict[str, Any]] = field(default_factory=list)
    links: list[tuple[str, str]] = field(default_factory=list)  # records touched: (object_type, object_key)

    def as_json(self) -> dict[str, Any]:
        """The outcome as stored on the request and shown on preview and result pages and in the API, personal data
        masked (``piaogen.privacy``): a buyer's resident ID, a delivery address, a title's taxpayer id."""
        totals = {
            "amount_net": sum(d["amount_net"] for d in self.documents),
            "amount_tax": sum(d["amount_tax"] for d in self.documents),
            "amount_gross": sum(d["amount_gross"] for d in self.documents),
        }
        return mask_json({
            "summary": self.summary,
            "plan": self.plan or self.summary,
            "documents": self.documents,
            "totals": totals,
            "sheet": self.sheet,
            "binding": self.binding,
            "title": self.title,
            "delivery": self.delivery,
            "rejected": self.rejected,
            "links": [list(link) for link in self.links],
        })  # fmt: skip


# --- the actions --------------------------------------------------------------------------------------------------


def _fresh_document(target: Target) -> Document:
    return Document.objects.select_related("customer", "title", "seller").get(pk=target.obj.pk)


def _resend(target: Target, data: dict[str, Any], user: User) -> Outcome:
    document = _fresh_document(target)
    delivery = delivery_send(document=document, address=data.get("address") or None, by=user)
    return Outcome(
        summary=_("票据%(number)s已发送至%(address)s（%(status)s）")
        % {"number": document, "address": shown(Pii.EMAIL, delivery.address), "status": delivery.get_status_display()},
        documents=[document_json(document)],
        delivery={"id": delivery.pk, "address": delivery.address, "status": delivery.status},
        links=[("document", str(document.pk))],
    )


def _resend_preview(target: Target, data: dict[str, Any], user: User) -> Outcome:
    document = _fresh_document(target)
    address = (data.get("address") or delivery_address(document=document)).strip()
    if not address:
        raise IssuingError(_("没有收票邮箱：请先在抬头或客户资料中填写邮箱"), code="no_address")
    # the preview (never stored) shows the whole address while the agent has the customer's data revealed
    address = revealed(
        address, reveal=document.customer is not None and pii_revealed(user=user, customer=document.customer)
    )
    return Outcome(
        summary=_("将把票据%(number)s发送至%(address)s") % {"number": document, "address": shown(Pii.EMAIL, address)},
        documents=[document_json(document)],
        delivery={"id": None, "address": address, "status": "pending"},
        links=[("document", str(document.pk))],
    )


def _reverse(target: Target, data: dict[str, Any], user: User) -> Outcome:
    document = _fresh_document(target)
    red = document_reverse(document=document, reason=data["reason"], by=user)
    document.refresh_from_db()
    return Outcome(
        summary=_("票据%(number)s已红冲，红字票据%(red)s") % {"number": document, "red": red},
        plan=_("将红冲票据%(number)s：开具对应的红字票据，原票据标记为已红冲（不可撤销）") % {"number": document},
        documents=[document_json(document), document_json(red, new=True)],
        links=[("document", str(document.pk)), ("document", str(red.pk))],
    )


def _reissue_title(document: Document, data: dict[str, Any], user: User) -> BuyerTitle:
    """The corrected title: one the customer has, or a new version typed in the form (added first)."""
    if data.get("title") is not None:
        title: BuyerTitle = data["title"]
        return title
    if document.customer is None:
        raise IssuingError(_("该票据没有客户，不能新增抬头"), code="no_customer")
    return buyer_title_add(
        customer=document.customer,
        kind=data["new_kind"],
        name=data["new_name"],
        tax_id=data.get("new_tax_id", ""),
        card_no=document.title.card_no if document.title is not None else "",
        email=document.title.email if document.title is not None else "",
        reason=data["reason"],
        by=user,
        one_document=not data.get("as_default"),
    )


def _reissue(target: Target, data: dict[str, Any], user: User) -> Outcome:
    document = _fresh_document(target)
    title = _reissue_title(document, data, user)
    new = document_reissue(document=document, title=title, reason=data["reason"], by=user)
    document.refresh_from_db()
    red = document.reversals.order_by("-issued_at", "-id").first()
    documents = [
        document_json(document),
        *([document_json(red, new=True)] if red else []),
        document_json(new, new=True),
    ]
    return Outcome(
        summary=_("票据%(number)s已换开为%(new)s（抬头：%(title)s）")
        % {"number": document, "new": new, "title": title.name},
        plan=_("将红冲票据%(number)s，并以抬头“%(title)s”就同一批明细开具新票据")
        % {"number": document, "title": title.name},
        documents=documents,
        title={"id": title.pk, "name": title.name, "tax_id": title.tax_id},
        links=[("document", str(document.pk)), ("document", str(new.pk))],
    )


def _card_items(card_no: str, what: str, keys: list[str]) -> tuple[list[int], list[int], list[dict[str, Any]]]:
    """Segment and top-up ids the request names (pass ids or top-up ids of the card); none named: every eligible
    one of the card in the last ``REQUEST_LOOKBACK_DAYS`` days. Unknown keys come back as rejections."""
    since = beijing_today() - dt.timedelta(days=REQUEST_LOOKBACK_DAYS)
    if what == "topups":
        if keys:
            found = dict(TopUp.objects.filter(card_no=card_no, topup_id__in=keys).values_list("topup_id", "id"))
            missing = [{"key": k, "message": _("该卡没有这笔充值")} for k in keys if k not in found]
            return [], list(found.values()), missing
        states = topup_states(card_no=card_no, date_from=since)
        return [], sorted(i for i, s in states.items() if s.eligible)[:MAX_ITEMS], []
    if keys:
        # a key is a trip's pass id (all its segments) or ``<pass id>#<segment no>`` (that segment alone)
        trips = [k for k in keys if "#" not in k]
        parts = [(k, *k.rsplit("#", 1)) for k in keys if "#" in k]
        passes = set(trips) | {p for _k, p, _n in parts}
        rows = list(
            Segment.objects.filter(card_no=card_no, pass_id__in=passes).values_list("id", "pass_id", "segment_no")
        )
        known = {pass_id for _id, pass_id, _no in rows}
        by_no = {(pass_id, str(no)): pk for pk, pass_id, no in rows}
        missing = [{"key": k, "message": _("该卡没有这次通行")} for k in trips if k not in known]
        missing += [
            {"key": _("通行%(pass_id)s第%(no)s段") % {"pass_id": p, "no": n}, "message": _("该卡没有这一段通行")}
            for _k, p, n in parts
            if (p, n) not in by_no
        ]
        chosen = {pk for pk, pass_id, _no in rows if pass_id in trips}
        chosen |= {by_no[p, n] for _k, p, n in parts if (p, n) in by_no}
        return sorted(chosen), [], missing
    seg_states = segment_states(card_no=card_no, date_from=since)
    return sorted(i for i, s in seg_states.items() if s.eligible)[:MAX_ITEMS], [], []


def _item_names(rejected: list[Any]) -> dict[tuple[str, int | None], str]:
    """A refused item as the agent knows it: the trip's pass id and segment number, the top-up's id (no internal
    ids, no kind codes)."""
    segment_ids = [r.id for r in rejected if r.kind == "segment" and r.id is not None]
    topup_ids = [r.id for r in rejected if r.kind == "topup" and r.id is not None]
    names: dict[tuple[str, int | None], str] = {}
    for pk, pass_id, segment_no in Segment.objects.filter(pk__in=segment_ids).values_list(
        "pk", "pass_id", "segment_no"
    ):
        names["segment", pk] = _("通行%(pass_id)s第%(no)s段") % {"pass_id": pass_id, "no": segment_no}
    for pk, topup_id in TopUp.objects.filter(pk__in=topup_ids).values_list("pk", "topup_id"):
        names["topup", pk] = _("充值%(topup_id)s") % {"topup_id": topup_id}
    return names


def _request_invoices(target: Target, data: dict[str, Any], user: User) -> Outcome:
    card_no: str = data["card_no"]
    segment_ids, topup_ids, missing = _card_items(card_no, data["what"], data.get("keys") or [])
    if not segment_ids and not topup_ids:
        raise IssuingError(_("没有可开票的明细"), code="nothing_eligible")
    documents, rejected = invoice_request_issue(segment_ids=segment_ids, topup_ids=topup_ids, by=user)
    names = _item_names(rejected)
    rows = missing + [
        {"key": names.get((r.kind, r.id), r.pass_id or str(r.id)), "message": r.message} for r in rejected
    ]
    if not documents:
        raise IssuingError(
            _("没有可开票的明细：%(reasons)s"), code="nothing_eligible",
            params={"reasons": _("；").join(f"{r['key']} {r['message']}" for r in rows[:10])},
        )  # fmt: skip
    return Outcome(
        summary=_("已为卡%(card_no)s开具%(count)s张票据") % {"card_no": card_no, "count": len(documents)},
        plan=_("将为卡%(card_no)s开具%(count)s张票据") % {"card_no": card_no, "count": len(documents)},
        documents=[document_json(d, new=True) for d in documents],
        rejected=rows,
        links=[("card", card_no), *(("document", str(d.pk)) for d in documents)],
    )


def _sheet_refusals(card_no: str, pass_ids: list[str]) -> list[dict[str, Any]]:
    """The named trips a summary sheet of the card cannot bind, each with why: not a trip of this card, or none of
    its segments in a live document (with the segments' states, in words)."""
    rows = list(Segment.objects.filter(card_no=card_no, pass_id__in=pass_ids).values_list("id", "pass_id"))
    states = segment_states(segment_ids=[pk for pk, _p in rows]) if rows else {}
    by_trip: dict[str, list[str]] = {}
    held: set[str] = set()
    for pk, pass_id in rows:
        state = states.get(pk)
        if state is not None and state.document is not None:
            held.add(pass_id)
        by_trip.setdefault(pass_id, []).append(state.message() if state is not None else _("无法确定开票状态"))
    refused = []
    for pass_id in pass_ids:
        if pass_id not in by_trip:
            refused.append({"key": _("通行%(key)s") % {"key": pass_id}, "message": _("该卡没有这次通行")})
        elif pass_id not in held:
            why = _("尚无已开具的票据，不能汇总（%(reasons)s）") % {
                "reasons": _("；").join(dict.fromkeys(by_trip[pass_id]))
            }
            refused.append({"key": _("通行%(key)s") % {"key": pass_id}, "message": why})
    return refused


def _summary_sheet(target: Target, data: dict[str, Any], user: User) -> Outcome:
    refused = _sheet_refusals(data["card_no"], data["keys"])
    named = {row["key"] for row in refused}
    pass_ids = [p for p in data["keys"] if _("通行%(key)s") % {"key": p} not in named]
    if not pass_ids:
        raise IssuingError(
            _("所选通行都不能汇总：%(reasons)s"), code="sheet_nothing",
            params={"reasons": _("；").join(f"{r['key']}：{r['message']}" for r in refused[:10])},
        )  # fmt: skip
    sheet = summary_sheet_issue(card_no=data["card_no"], pass_ids=pass_ids, by=user)
    documents = list(sheet.documents.order_by("pk"))
    return Outcome(
        summary=_("汇总单%(number)s：%(trips)s次通行，%(count)s张票据")
        % {"number": sheet.number, "trips": len(sheet.pass_ids), "count": len(documents)},
        plan=_("将生成汇总单：%(trips)s次通行，%(count)s张票据（已有相同汇总单时直接返回该汇总单）")
        % {"trips": len(sheet.pass_ids), "count": len(documents)},
        documents=[document_json(d) for d in documents],
        sheet={"id": sheet.pk, "number": sheet.number, "amount_gross": sheet.amount_gross, "pass_ids": sheet.pass_ids},
        rejected=refused,
        links=[("card", sheet.card_no), ("sheet", sheet.number)],
    )


def _holder(data: dict[str, Any]) -> HolderData:
    return HolderData(
        name=data["holder_name"], id_type=data["holder_id_type"], id_no=data["holder_id_no"], phone=data["holder_phone"]
    )


def _binding_json(binding: CardBinding) -> dict[str, Any]:
    return {
        "id": binding.pk,
        "customer": binding.customer_id,
        "card_no": binding.card_no,
        "bound_at": binding.bound_at.isoformat(),
        "unbound_at": binding.unbound_at.isoformat() if binding.unbound_at else None,
        "covers_from": binding.covers_since.isoformat(),
    }


def _card_bind(target: Target, data: dict[str, Any], user: User) -> Outcome:
    customer = Customer.objects.get(pk=target.obj.pk)
    binding = card_bind(
        customer=customer, card_no=data["card_no"], holder=_holder(data), reason=data["reason"], by=user
    )
    return Outcome(
        summary=_("卡%(card_no)s已绑定客户%(customer)s") % {"card_no": binding.card_no, "customer": customer.name},
        plan=_("将把卡%(card_no)s绑定到客户%(customer)s（自确认时起）")
        % {"card_no": binding.card_no, "customer": customer.name},
        binding=_binding_json(binding),
        links=[("card", binding.card_no), ("customer", str(customer.pk))],
    )


def _card_unbind(target: Target, data: dict[str, Any], user: User) -> Outcome:
    binding = card_unbind(card_no=target.obj.card_no, holder=_holder(data), reason=data["reason"], by=user)
    return Outcome(
        summary=_("卡%(card_no)s已解绑（客户%(customer)s）")
        % {"card_no": binding.card_no, "customer": binding.customer.name},
        plan=_("将解绑卡%(card_no)s（客户%(customer)s），此前的通行仍归该客户")
        % {"card_no": binding.card_no, "customer": binding.customer.name},
        binding=_binding_json(binding),
        links=[("card", binding.card_no), ("customer", str(binding.customer_id))],
    )


def _title_add(target: Target, data: dict[str, Any], user: User) -> Outcome:
    customer = Customer.objects.get(pk=target.obj.pk)
    title = buyer_title_add(
        customer=customer,
        kind=data["kind"],
        name=data["name"],
        tax_id=data.get("tax_id", ""),
        card_no=data.get("card_no", ""),
        email=data.get("email", ""),
        address_phone=data.get("address_phone", ""),
        bank_account=data.get("bank_account", ""),
        reason=data["reason"],
        by=user,
    )
    return Outcome(
        summary=_("已新增抬头版本：%(name)s") % {"name": title.name},
        plan=_("将新增抬头版本：%(name)s（自确认时起对之后的通行和充值生效）") % {"name": title.name},
        title={"id": title.pk, "name": title.name, "tax_id": title.tax_id, "card_no": title.card_no},
        links=[("customer", str(customer.pk))],
    )


def _claim(target: Target, data: dict[str, Any], user: User) -> Outcome:
    """代客开票: the caller's paper ticket, taxi ride or back-charge, by number and second factor (invoicing.claims).
    For a taxi ride the plate field is the taxi's plate."""
    customer = Customer.objects.get(pk=target.obj.pk)
    kind = data["claim_kind"]
    plate = (data.get("plate") or "").strip()
    amount = data.get("amount") or ""
    item = ClaimItem(
        kind=kind,
        number=data["number"],
        plate=plate if kind != ClaimKind.TAXI_RIDE else "",
        plate_color=data.get("plate_color"),
        amount=parse_yuan(amount) if amount else None,
        taxi_plate=plate if kind == ClaimKind.TAXI_RIDE else "",
    )
    new_title = (
        NewTitle(kind=data["new_kind"], name=data["new_name"].strip(), tax_id=data.get("new_tax_id") or "")
        if data.get("title") is None
        else None
    )
    documents = invoice_claim(
        items=[item],
        customer=customer,
        title=data.get("title"),
        new_title=new_title,
        reason=data["reason"],
        by=user,
        province=user.province_scope,
    )
    label = ClaimKind(kind).label
    buyer = documents[0].buyer_name
    return Outcome(
        summary=_("已为客户%(customer)s开具%(kind)s%(number)s的票据%(documents)s（抬头：%(title)s）")
        % {
            "customer": customer.name,
            "kind": label,
            "number": item.number.strip(),
            "documents": _("、").join(str(d) for d in documents),
            "title": buyer,
        },
        plan=_("将为客户%(customer)s开具%(kind)s%(number)s的票据（抬头：%(title)s）")
        % {"customer": customer.name, "kind": label, "number": item.number.strip(), "title": buyer},
        documents=[document_json(d, new=True) for d in documents],
        title={"id": documents[0].title_id, "name": buyer, "tax_id": documents[0].buyer_tax_id},
        links=[("customer", str(customer.pk)), *(("document", str(d.pk)) for d in documents)],
    )


def _prepaid_choice(target: Target, data: dict[str, Any], user: User) -> Outcome:
    version = prepaid_choice_set(card_no=target.obj.card_no, choice=data["choice"], reason=data["reason"], by=user)
    label = PrepaidChoice(version.choice).label
    return Outcome(
        summary=_("卡%(card_no)s的开票方式改为“%(choice)s”") % {"card_no": version.card_no, "choice": label},
        plan=_("将把卡%(card_no)s的开票方式改为“%(choice)s”（自确认时起对之后的充值生效，已开票的不变）")
        % {"card_no": version.card_no, "choice": label},
        links=[("card", version.card_no)],
    )


def _day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0), tzinfo=BEIJING)


def _own(model: type[Any], value: Any, customer: Customer) -> Any:
    """The customer's row named by ``value`` (a form's instance or an API's id); None when not theirs or not there
    (the same answer either way)."""
    pk = getattr(value, "pk", value)
    return model.objects.filter(pk=pk, customer=customer).first() if isinstance(pk, int) else None


def _binding_backdate(target: Target, data: dict[str, Any], user: User) -> Outcome:
    binding = _own(CardBinding, data["binding"], target.obj)
    if binding is None:
        raise IssuingError(_("找不到该绑卡记录"), code="binding_not_found")
    binding = card_binding_backdate(
        binding=binding, covers_from=_day_start(data["covers_from"]), reason=data["reason"], by=user
    )
    since = data["covers_from"].isoformat()
    return Outcome(
        summary=_("卡%(card_no)s的绑定已追溯至%(since)s") % {"card_no": binding.card_no, "since": since},
        plan=_("将把卡%(card_no)s的绑定追溯至%(since)s：此后未开票的通行和充值归该客户")
        % {"card_no": binding.card_no, "since": since},
        binding=_binding_json(binding),
        links=[("card", binding.card_no), ("customer", str(binding.customer_id))],
    )


def _title_backdate(target: Target, data: dict[str, Any], user: User) -> Outcome:
    title = _own(BuyerTitle, data["title"], target.obj)
    if title is None:
        raise IssuingError(_("找不到该抬头"), code="title_not_found")
    title = buyer_title_backdate(title=title, valid_from=_day_start(data["valid_from"]), reason=data["reason"], by=user)
    since = data["valid_from"].isoformat()
    return Outcome(
        summary=_("抬头“%(name)s”已自%(since)s起生效") % {"name": title.name, "since": since},
        plan=_("将把抬头“%(name)s”的生效时间提前到%(since)s（已开具的票据不变）")
        % {"name": title.name, "since": since},
        title={"id": title.pk, "name": title.name, "tax_id": title.tax_id, "card_no": title.card_no},
        links=[("customer", str(title.customer_id))],
    )


Performer = Callable[[Target, dict[str, Any], User], Outcome]

PERFORMERS: dict[str, Performer] = {
    ActionKind.RESEND: _resend,
    ActionKind.REVERSE: _reverse,
    ActionKind.REISSUE: _reissue,
    ActionKind.REQUEST_INVOICES: _request_invoices,
    ActionKind.SUMMARY_SHEET: _summary_sheet,
    ActionKind.CARD_BIND: _card_bind,
    ActionKind.CARD_UNBIND: _card_unbind,
    ActionKind.TITLE_ADD: _title_add,
    ActionKind.CLAIM: _claim,
    ActionKind.PREPAID_CHOICE: _prepaid_choice,
    ActionKind.BINDING_BACKDATE: _binding_backdate,
    ActionKind.TITLE_BACKDATE: _title_backdate,
}


class _RolledBack(Exception):
    """Raised inside a preview's savepoint so that everything the service wrote is undone."""


def _planned_status(status: str, *, new: bool) -> str:
    """A preview's document state as what confirming will do: a document it will issue is 将开具 (a red-letter one
    将开具红字票据), one it will reverse 将红冲 — never 已开具 for what does not exist yet."""
    if new:
        return _("将开具红字票据") if status == DocumentStatus.RED else _("将开具")
    if status == DocumentStatus.REVERSED:
        return _("将红冲")
    return _("将变为%(status)s") % {"status": DocumentStatus(status).label}


def _as_planned(result: dict[str, Any]) -> dict[str, Any]:
    """A rolled-back action's documents relabelled by what confirming will change: the new ones, and those whose
    state it changes (read again after the rollback); a document it leaves as it is keeps its state."""
    documents = result.get("documents") or []
    now = dict(Document.objects.filter(pk__in=[d["id"] for d in documents if not d["new"]]).values_list("pk", "status"))
    for document in documents:
        if document["new"] or now.get(document["id"], document["status"]) != document["status"]:
            document["status_label"] = _planned_status(document["status"], new=document["new"])
    return result


def action_preview(*, kind: str, target: Target, data: dict[str, Any], user: User) -> dict[str, Any]:
    """What confirming would do, computed by the same service in a savepoint that is always rolled back; the
    documents' states say what will happen (``_as_planned``)."""
    if kind == ActionKind.RESEND:
        return _resend_preview(target, data, user).as_json()
    result: dict[str, Any] = {}
    try:
        with transaction.atomic():
            result = PERFORMERS[kind](target, data, user).as_json()
            raise _RolledBack
    except _RolledBack:
        pass
    return _as_planned(result)


def _concerned_province(target: Target, data: dict[str, Any]) -> str:
    """The province an action on an account concerns: the card's when it names one (bind, a title or invoices for
    a card), else the record's. A province user's view of the account's timeline shows only their province's."""
    card_no = str(data.get("card_no") or "")
    return card_no[:2] if target.object_type == "customer" and len(card_no) == 20 else target.province


def _ticket_note(ticket: Ticket, *, kind: str, reason: str, outcome: dict[str, Any], user: User) -> None:
    TicketNote.objects.create(
        ticket=ticket,
        author=user,
        body=_("【%(action)s】%(summary)s。原因：%(reason)s")
        % {"action": ActionKind(kind).label, "summary": outcome["summary"], "reason": reason},
    )
    for object_type, object_key in outcome["links"]:
        TicketLink.objects.get_or_create(ticket=ticket, object_type=object_type, object_key=object_key)


@transaction.atomic
def action_confirm(
    *,
    key: uuid.UUID,
    kind: str,
    target: Target,
    data: dict[str, Any],
    user: User,
    ticket: Ticket | None = None,
    request: HttpRequest | None = None,
) -> tuple[ActionRequest, bool]:
    """Run the action once per ``key``; returns the request row and whether this call ran it (False: a repeat,
    the first one's row is returned with its result)."""
    reason = str(data["reason"]).strip()
    try:
        with transaction.atomic():
            action = ActionRequest.objects.create(
                key=key,
                kind=kind,
                user=user,
                object_type=target.object_type,
                object_id=target.object_key,
                province=target.province,
                reason=reason,
                ticket=ticket,
            )
    except IntegrityError:
        first = ActionRequest.objects.get(key=key)
        if (first.kind, first.object_type, first.object_id, first.user_id) != (
            kind, target.object_type, target.object_key, user.pk
        ):  # fmt: skip
            raise IssuingError(_("该请求已提交过其他操作，请刷新页面后重试"), code="key_reused") from None
        return first, False
    before = target.snapshot()
    outcome = PERFORMERS[kind](target, data, user).as_json()
    action.result = outcome
    action.save(update_fields=["result"])
    audit_record(
        actor=user,
        action=f"support.{kind}",
        obj=target.obj,  # the record's model label and id: the record pages' timelines read it
        province=_concerned_province(target, data),
        reason=reason,
        before=before,
        after={"summary": outcome["summary"], "action": action.pk, "links": outcome["links"]},
        request=request,
    )
    if ticket is not None:
        _ticket_note(ticket, kind=kind, reason=reason, outcome=outcome, user=user)
    return action, True


def holder_masked(data: dict[str, Any]) -> dict[str, str]:
    """Holder data as shown back on a preview page (ID number and phone masked)."""
    return {
        "name": data.get("holder_name", ""),
        "id_type": data.get("holder_id_type", ""),
        "id_no": shown(Pii.ID_NO, data.get("holder_id_no", "")),
        "phone": shown(Pii.PHONE, data.get("holder_phone", "")),
    }


def is_reversible(document: Document) -> bool:
    return document.status == DocumentStatus.ISSUED
