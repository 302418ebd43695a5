"""Invoice requests by item id (the customer channels' and agents' 开票申请 for trips and top-ups): what is eligible
is issued at once, every other item comes back with the reason it is not (``invoicing.eligibility``). Claims by
printed number are ``invoicing.claims``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from invoicing.eligibility import ItemState, segment_states, topup_states
from invoicing.issuing import issue_segments, issue_topups
from invoicing.models import Document, DocumentItem, ItemKind
from piaogen.models import User

NOT_FOUND = "not_found"
"""The reason of an item that does not exist (or not in the caller's scope: the same answer on purpose)."""


@dataclass(frozen=True)
class Rejection:
    kind: str
    id: int | None
    reason: str
    message: str
    pass_id: str = ""


def _rejections(states: dict[int, ItemState], wanted: Sequence[int], kind: str) -> list[Rejection]:
    result = []
    for item_id in wanted:
        state = states.get(item_id)
        if state is None:
            result.append(Rejection(kind, item_id, NOT_FOUND, str(_("找不到该明细"))))
        elif not state.eligible:
            result.append(Rejection(kind, item_id, str(state.reason), state.message()))
    return result


@transaction.atomic
def invoice_request_issue(
    *, segment_ids: Sequence[int], topup_ids: Sequence[int], by: User | None
) -> tuple[list[Document], list[Rejection]]:
    """Issue what is eligible among the requested items now; every other item comes back with its reason.
    Items taken by a concurrent request between the read and the issue are reported with their new state."""
    segments, topups = list(dict.fromkeys(segment_ids)), list(dict.fromkeys(topup_ids))
    documents: list[Document] = []
    rejected: list[Rejection] = []
    for kind, wanted in ((ItemKind.SEGMENT, segments), (ItemKind.TOPUP, topups)):
        if not wanted:
            continue
        states = _states(kind, wanted)
        rejected += _rejections(states, wanted, kind)
        eligible = [item_id for item_id in wanted if item_id in states and states[item_id].eligible]
        if not eligible:
            continue
        issued = (
            issue_segments(segment_ids=eligible, by=by)
            if kind == ItemKind.SEGMENT
            else issue_topups(topup_ids=eligible, by=by)
        )
        documents += issued
        held = set(DocumentItem.objects.filter(document__in=issued, item_kind=kind).values_list("item_id", flat=True))
        lost = [item_id for item_id in eligible if item_id not in held]
        if lost:
            rejected += _rejections(_states(kind, lost), lost, kind)
    return documents, rejected


def _states(kind: str, ids: list[int]) -> dict[int, ItemState]:
    return segment_states(segment_ids=ids) if kind == ItemKind.SEGMENT else topup_states(topup_ids=ids)
