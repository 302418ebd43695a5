"""The agent's workspace (their home page): my open tickets and the team's unassigned queue with their SLA state,
overdue first; today's counts (tickets opened and closed, actions by kind); and the records the agent opened last,
to resume a call. Every query is bounded (a LIMIT or a count) and goes through the province scope."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.contrib.sessions.backends.base import SessionBase
from django.db.models import Count, Q
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from invoicing.eligibility import BEIJING
from piaogen.access import scoped
from piaogen.models import User
from support.models import ActionKind, ActionRequest, Ticket, TicketStatus
from support.tickets import tickets_for

TICKET_LIMIT = 20  # per list; the counts say how many there are in all
RECENT_LIMIT = 10
RECENT_KEY = "support_recent_records"
DUE_SOON = dt.timedelta(hours=4)

RECORD_KINDS = {"customer": _("客户"), "card": _("ETC卡"), "trip": _("通行")}
RECORD_URLS = {"customer": "customer-detail", "card": "card-detail", "trip": "trip-detail"}


@dataclass
class TicketRow:
    ticket: Ticket
    sla: str  # overdue / due_soon / on_time

    @property
    def sla_label(self) -> str:
        return str({"overdue": _("已超时"), "due_soon": _("即将到期"), "on_time": _("未到期")}[self.sla])


@dataclass
class Workspace:
    mine: list[TicketRow]
    mine_count: int
    queue: list[TicketRow]
    queue_count: int
    opened_today: int
    closed_today: int
    actions_today: list[dict[str, Any]] = field(default_factory=list)  # {label, mine, all}, most first
    recent: list[dict[str, Any]] = field(default_factory=list)


def _sla(ticket: Ticket, now: dt.datetime) -> str:
    if ticket.due_at < now:
        return "overdue"
    return "due_soon" if ticket.due_at < now + DUE_SOON else "on_time"


def today_start(now: dt.datetime | None = None) -> dt.datetime:
    """Midnight of today in Beijing time (aware)."""
    local = timezone.localtime(now or timezone.now(), BEIJING)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def agent_workspace(*, user: User, recent: list[dict[str, Any]] | None = None) -> Workspace:
    now = timezone.now()
    start = today_start(now)
    open_tickets = tickets_for(user).open().select_related("customer")  # type: ignore[attr-defined]
    mine = open_tickets.filter(assignee=user)  # ticket_assignee_idx
    queue = open_tickets.filter(assignee__isnull=True)  # ticket_status_due_idx
    tickets = tickets_for(user)
    actions = (
        scoped(ActionRequest.objects.filter(created_at__gte=start), user)  # action_request_created_idx
        .values("kind")
        .annotate(total=Count("id"), mine=Count("id", filter=Q(user=user)))
        .order_by("-total", "kind")
    )
    labels = dict(ActionKind.choices)
    return Workspace(
        mine=[TicketRow(t, _sla(t, now)) for t in mine.order_by("due_at", "id")[:TICKET_LIMIT]],
        mine_count=mine.count(),
        queue=[TicketRow(t, _sla(t, now)) for t in queue.order_by("due_at", "id")[:TICKET_LIMIT]],
        queue_count=queue.count(),
        opened_today=tickets.filter(created_at__gte=start).count(),  # ticket_created_idx
        closed_today=tickets.filter(
            closed_at__gte=start, status__in=[TicketStatus.RESOLVED, TicketStatus.CLOSED]
        ).count(),  # ticket_closed_idx
        actions_today=[
            {"label": str(labels.get(row["kind"], row["kind"])), "mine": row["mine"], "all": row["total"]}
            for row in actions
        ],
        recent=recent or [],
    )


# --- recently opened records (kept in the session) ------------------------------------------------------------------


def remember_record(session: SessionBase, *, kind: str, pk: int, label: str) -> None:
    """Put a record the agent opened at the top of their recent list (no duplicates, at most ``RECENT_LIMIT``)."""
    if kind not in RECORD_KINDS:
        return
    recent = [r for r in session.get(RECENT_KEY, []) if (r.get("kind"), r.get("id")) != (kind, pk)]
    session[RECENT_KEY] = [{"kind": kind, "id": pk, "label": label[:100]}, *recent][:RECENT_LIMIT]


def recent_records(session: SessionBase) -> list[dict[str, Any]]:
    """The recent records with their kind's name and their page's URL, newest first."""
    from django.urls import reverse

    rows = []
    for row in session.get(RECENT_KEY, [])[:RECENT_LIMIT]:
        kind, pk = row.get("kind"), row.get("id")
        if kind in RECORD_KINDS and isinstance(pk, int):
            url = reverse(RECORD_URLS[kind], args=[pk])
            rows.append({"kind": str(RECORD_KINDS[kind]), "label": row.get("label", ""), "url": url})
    return rows


def agent_home(request: HttpRequest, user: User) -> dict[str, Any]:
    """The agent's home page (registered with piaogen.home): their workspace and the records they opened last."""
    return {"workspace": agent_workspace(user=user, recent=recent_records(request.session))}
