"""The agent's workspace on their home page: my open tickets and the team's unassigned queue, overdue first with
their SLA state; today's tickets and actions by kind, with labels; the records they opened last; province scope."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

from django.test import Client
from django.utils import timezone

from invoicing.models import Customer
from piaogen.models import Role, User
from support.models import ActionKind, ActionRequest, Ticket, TicketStatus
from support.tickets import ticket_open, ticket_update
from support.workspace import RECENT_LIMIT, agent_workspace


def _ticket(
    by: User, subject: str, *, assignee: User | None = None, due_in: dt.timedelta, province: str = ""
) -> Ticket:
    ticket = ticket_open(category="other", subject=subject, by=by, assignee=assignee)
    Ticket.objects.filter(pk=ticket.pk).update(due_at=timezone.now() + due_in, province=province)
    return Ticket.objects.get(pk=ticket.pk)


def test_my_tickets_and_the_unassigned_queue_come_overdue_first_with_their_sla_state(
    agent: User, make_staff: Callable[..., User]
) -> None:
    other = make_staff(Role.AGENT, username="agent2")
    _ticket(agent, "明天到期", assignee=agent, due_in=dt.timedelta(days=1))
    _ticket(agent, "已超时", assignee=agent, due_in=-dt.timedelta(hours=1))
    _ticket(agent, "快到期", due_in=dt.timedelta(hours=1))
    _ticket(agent, "别人的", assignee=other, due_in=-dt.timedelta(hours=2))
    done = _ticket(agent, "已解决", assignee=agent, due_in=-dt.timedelta(hours=3))
    ticket_update(ticket=done, status=TicketStatus.RESOLVED, assignee=agent, by=agent)

    ws = agent_workspace(user=agent)

    assert [(r.ticket.subject, r.sla) for r in ws.mine] == [("已超时", "overdue"), ("明天到期", "on_time")]
    assert [(r.ticket.subject, r.sla_label) for r in ws.queue] == [("快到期", "即将到期")]
    assert (ws.mine_count, ws.queue_count, ws.opened_today, ws.closed_today) == (2, 1, 5, 1)


def test_todays_actions_are_counted_by_kind_with_labels_mine_and_the_teams(
    agent: User, make_staff: Callable[..., User]
) -> None:
    other = make_staff(Role.AGENT, username="agent2")
    for user, kind in [(agent, ActionKind.RESEND), (other, ActionKind.RESEND), (agent, ActionKind.REISSUE)]:
        ActionRequest.objects.create(key=uuid.uuid4(), kind=kind, user=user, object_type="document", object_id="1",
                                     reason="r")  # fmt: skip
    ActionRequest.objects.create(
        key=uuid.uuid4(), kind=ActionKind.REVERSE, user=agent, object_type="document", object_id="1", reason="r",
        created_at=timezone.now() - dt.timedelta(days=2),
    )  # fmt: skip

    ws = agent_workspace(user=agent)

    assert ws.actions_today == [{"label": "重发票据", "mine": 1, "all": 2}, {"label": "换票", "mine": 1, "all": 1}]


def test_the_home_page_of_an_agent_is_the_workspace_and_lists_the_records_they_opened(
    agent: User, client_for: Callable[[User], Client], world: dict[str, Any]
) -> None:
    client = client_for(agent)
    customer: Customer = world["customer"]
    _ticket(agent, "客户来电", assignee=agent, due_in=-dt.timedelta(hours=1))
    client.get(f"/customers/{customer.pk}/")

    response = client.get("/")

    body = response.content.decode()
    assert response.status_code == 200
    assert "客户来电" in body and "已超时" in body and "最近打开的记录" in body
    assert f'<a href="/customers/{customer.pk}/">{customer.name}</a>' in body


def test_the_recent_list_keeps_the_last_records_without_duplicates(
    agent: User, client_for: Callable[[User], Client], world: dict[str, Any]
) -> None:
    client = client_for(agent)
    customer: Customer = world["customer"]
    for _ in range(2):
        client.get(f"/customers/{customer.pk}/")
    recent = client.session["support_recent_records"]
    assert [r["id"] for r in recent] == [customer.pk] and len(recent) <= RECENT_LIMIT


def test_a_province_user_sees_only_their_province_tickets(agent: User, make_staff: Callable[..., User]) -> None:
    province_user = make_staff(Role.PROVINCE, "32")  # tickets are read by managers and province users too
    _ticket(agent, "江苏", due_in=dt.timedelta(hours=10), province="32")
    _ticket(agent, "北京", due_in=dt.timedelta(hours=10), province="11")

    ws = agent_workspace(user=province_user)

    assert [r.ticket.subject for r in ws.queue] == ["江苏"] and ws.opened_today == 1
