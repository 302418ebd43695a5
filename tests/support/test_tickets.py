"""Tickets: opened from any record with the category's SLA due time, states and assignee, notes and links, the list
with its filters (shared with the API), overdue highlighting, saved personal and shared filters, and who may do what."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from invoicing.models import Customer, Document
from piaogen.models import AuditEvent, Role, User
from support.models import SavedFilter, Ticket, TicketLink, TicketNote, TicketStatus
from support.tickets import ticket_open


@pytest.fixture
def customer(db: None) -> Customer:
    return Customer.objects.create(name="王五", phone="13912345678", province="32", id_no="320102199001011234")


def test_a_ticket_opened_from_a_record_is_due_after_its_categorys_sla_and_linked_to_it(
    agent: User, customer: Customer, settings: Any
) -> None:
    settings.PIAOGEN = {
        **settings.PIAOGEN,
        "TICKET_SLA_HOURS": {**settings.PIAOGEN["TICKET_SLA_HOURS"], "not_received": 5},
    }
    before = timezone.now()

    ticket = ticket_open(
        category="not_received", subject="未收到发票", customer=customer, links=[("document", "42")], by=agent
    )

    assert before + dt.timedelta(hours=5) <= ticket.due_at <= timezone.now() + dt.timedelta(hours=5)
    assert ticket.province == "32" and ticket.status == TicketStatus.OPEN
    assert set(ticket.links.values_list("object_type", "object_key")) == {
        ("customer", str(customer.pk)),
        ("document", "42"),
    }
    assert AuditEvent.objects.filter(action="ticket.open", object_id=str(ticket.pk)).count() == 1


def test_every_category_has_an_sla_in_settings(settings: Any) -> None:
    from support.models import TicketCategory

    assert set(settings.PIAOGEN["TICKET_SLA_HOURS"]) == set(TicketCategory.values)


def test_an_agent_opens_a_ticket_from_a_document_page_link(
    agent: User, client_for: Callable[[User], Client], customer: Customer
) -> None:
    client = client_for(agent)
    query = f"?customer={customer.pk}&object_type=document&object_key=77"

    form = client.get(f"/tickets/new/{query}")
    response = client.post(
        "/tickets/new/",
        {"category": "wrong_title", "subject": "抬头错误", "customer": customer.pk, "object_type": "document",
         "object_key": "77", "assignee": agent.pk},
    )  # fmt: skip

    assert form.status_code == 200 and form.context["form"]["object_key"].value() == "77"
    ticket = Ticket.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/tickets/{ticket.pk}/"
    assert (ticket.customer, ticket.assignee, ticket.category) == (customer, agent, "wrong_title")
    assert TicketLink.objects.filter(ticket=ticket, object_type="document", object_key="77").exists()


def test_state_assignee_notes_and_links_are_worked_on_the_detail_page(
    agent: User, maintainer: User, client_for: Callable[[User], Client], customer: Customer
) -> None:
    client = client_for(agent)
    ticket = ticket_open(category="other", subject="咨询", customer=customer, by=agent)
    url = f"/tickets/{ticket.pk}/"

    client.post(url, {"form": "update", "status": "resolved", "assignee": maintainer.pk})
    client.post(url, {"form": "note", "body": "已电话回复客户"})
    client.post(url, {"form": "link", "object_type": "card", "object_key": "32010000000000000003"})
    bad = client.post(url, {"form": "link", "object_type": "document", "object_key": "not-a-number"}, follow=True)

    ticket.refresh_from_db()
    assert (ticket.status, ticket.assignee) == (TicketStatus.RESOLVED, maintainer)
    assert ticket.closed_at is not None
    assert TicketNote.objects.get(ticket=ticket).body == "已电话回复客户"
    assert ticket.links.filter(object_type="card").exists()
    assert "关联对象无效" in bad.content.decode()
    update = AuditEvent.objects.get(action="ticket.update")
    assert (
        update.before is not None
        and update.before["status"] == "open"
        and update.after
        == {
            "status": "resolved",
            "assignee": maintainer.username,
            "category": "other",
        }
    )

    client.post(url, {"form": "update", "status": "in_progress", "assignee": agent.pk})
    ticket.refresh_from_db()
    assert ticket.closed_at is None  # reopened


def test_overdue_tickets_are_highlighted_and_filterable(
    agent: User, client_for: Callable[[User], Client], customer: Customer
) -> None:
    late = ticket_open(category="other", subject="逾期的", customer=customer, by=agent)
    Ticket.objects.filter(pk=late.pk).update(due_at=timezone.now() - dt.timedelta(hours=1))
    ticket_open(category="other", subject="按时的", customer=customer, by=agent)
    client = client_for(agent)

    page = client.get("/tickets/")
    overdue = client.get("/tickets/", {"overdue": "true"})

    html = page.content.decode()
    assert html.count('class="overdue"') == 1 and "已超时" in html
    assert [t.subject for t in overdue.context["tickets"]] == ["逾期的"]


def test_the_list_filters(
    agent: User, maintainer: User, client_for: Callable[[User], Client], customer: Customer
) -> None:
    mine = ticket_open(category="wrong_title", subject="抬头写错", customer=customer, assignee=agent, by=agent)
    other = ticket_open(category="not_received", subject="没收到票", links=[("document", "9")], by=maintainer)
    Ticket.objects.filter(pk=other.pk).update(status=TicketStatus.CLOSED)
    client = client_for(agent)

    def subjects(**query: str) -> list[str]:
        return sorted(t.subject for t in client.get("/tickets/", query).context["tickets"])

    assert subjects() == ["抬头写错"]  # open tickets by default
    assert subjects(assignee="me") == ["抬头写错"]
    assert subjects(status="closed") == ["没收到票"]
    assert subjects(category="not_received", open="false") == ["没收到票"]
    assert subjects(object_type="document", object_key="9") == ["没收到票"]
    assert subjects(q="抬头", open="true") == ["抬头写错"]
    assert subjects(customer=str(customer.pk)) == ["抬头写错"]
    assert mine.pk != other.pk


def test_saved_filters_are_personal_unless_shared(
    agent: User, make_staff: Callable[..., User], client_for: Callable[[User], Client]
) -> None:
    colleague = make_staff(Role.AGENT, username="colleague")
    client = client_for(agent)

    client.post("/tickets/filters/", {"name": "我的超时", "query": "overdue=true&assignee=me"})
    response = client.post("/tickets/filters/", {"name": "团队待办", "query": "open=true", "shared": "on"})

    assert response.status_code == 302 and response["Location"] == "/tickets/?open=true"
    names = [s.name for s in client_for(colleague).get("/tickets/").context["saved_filters"]]
    assert names == ["团队待办"]
    assert {s.name for s in client.get("/tickets/").context["saved_filters"]} == {"我的超时", "团队待办"}
    shared = SavedFilter.objects.get(name="团队待办")
    assert client_for(colleague).post(f"/tickets/filters/{shared.pk}/delete/").status_code == 404
    assert client.post(f"/tickets/filters/{shared.pk}/delete/").status_code == 302
    assert not SavedFilter.objects.filter(pk=shared.pk).exists()


def test_the_tickets_of_a_record_load_into_its_page(
    agent: User, client_for: Callable[[User], Client], customer: Customer
) -> None:
    ticket_open(category="other", subject="客户的", customer=customer, by=agent)
    ticket_open(category="card_binding", subject="卡的", links=[("card", "32010000000000000003")], by=agent)
    client = client_for(agent)

    on_card = client.get("/tickets/record/", {"object_type": "card", "object_key": "32010000000000000003"})
    on_customer = client.get(
        "/tickets/record/", {"object_type": "customer", "object_key": str(customer.pk), "customer": str(customer.pk)}
    )

    assert [t.subject for t in on_card.context["tickets"]] == ["卡的"]
    assert [t.subject for t in on_customer.context["tickets"]] == ["客户的"]
    assert "新建工单" in on_card.content.decode()


def test_managers_read_tickets_but_do_not_work_them_and_province_users_have_none(
    agent: User, make_staff: Callable[..., User], client_for: Callable[[User], Client], customer: Customer
) -> None:
    ticket = ticket_open(category="other", subject="咨询", customer=customer, by=agent)
    manager = client_for(make_staff(Role.MANAGER))
    province = client_for(make_staff(Role.PROVINCE, "32"))

    assert manager.get("/tickets/").status_code == 200
    assert manager.get(f"/tickets/{ticket.pk}/").status_code == 200
    assert manager.post(f"/tickets/{ticket.pk}/", {"form": "note", "body": "x"}).status_code == 403
    assert manager.get("/tickets/new/").status_code == 403
    assert province.get("/tickets/").status_code == 403
    assert province.get(f"/tickets/{ticket.pk}/").status_code == 403
    assert not TicketNote.objects.exists()


def test_a_province_bound_manager_sees_only_their_provinces_tickets(
    agent: User, make_staff: Callable[..., User], client_for: Callable[[User], Client], customer: Customer
) -> None:
    jiangsu = ticket_open(category="other", subject="江苏", customer=customer, by=agent)
    beijing_customer = Customer.objects.create(name="赵六", phone="13700000000", province="11")
    beijing = ticket_open(category="other", subject="北京", customer=beijing_customer, by=agent)
    client = client_for(make_staff(Role.MANAGER, "32"))

    assert [t.subject for t in client.get("/tickets/").context["tickets"]] == ["江苏"]
    assert client.get(f"/tickets/{beijing.pk}/").status_code == 404
    assert client.get(f"/tickets/{jiangsu.pk}/").status_code == 200
    api = APIClient()
    api.force_authenticate(make_staff(Role.MANAGER, "32", username="api-m32"))
    assert [row["id"] for row in api.get("/api/v1/tickets/").json()["results"]] == [jiangsu.pk]
    assert api.get(f"/api/v1/tickets/{beijing.pk}/").status_code == 404


def test_the_tickets_api_shares_the_filters_and_masks_the_phone(
    agent: User, make_staff: Callable[..., User], customer: Customer
) -> None:
    ticket = ticket_open(category="wrong_title", subject="抬头", customer=customer, assignee=agent, by=agent)
    ticket_open(category="other", subject="其他", by=agent)
    api = APIClient()
    api.force_authenticate(agent)

    rows = api.get("/api/v1/tickets/", {"category": "wrong_title", "assignee": "me"}).json()["results"]

    assert [row["id"] for row in rows] == [ticket.pk]
    assert rows[0]["customer_phone"] == "139****5678"
    assert "13912345678" not in api.get(f"/api/v1/tickets/{ticket.pk}/").content.decode()
    assert api.get("/api/v1/tickets/", {"status": "nonsense"}).status_code == 400
    province = APIClient()
    province.force_authenticate(make_staff(Role.PROVINCE, "32"))
    assert province.get("/api/v1/tickets/").status_code == 403


def test_the_ticket_list_runs_a_fixed_number_of_queries(
    agent: User, client_for: Callable[[User], Client], customer: Customer, django_assert_max_num_queries: Any
) -> None:
    for n in range(5):
        ticket_open(category="other", subject=f"工单{n}", customer=customer, by=agent)
    client = client_for(agent)
    client.get("/tickets/")  # warm the session

    with django_assert_max_num_queries(14):
        response = client.get("/tickets/")

    assert len(response.context["tickets"]) == 5
    assert Document.objects.count() == 0


def test_the_record_tickets_include_loads_the_records_tickets_by_htmx(agent: User, customer: Customer) -> None:
    from django.template.loader import render_to_string
    from django.test import RequestFactory

    request = RequestFactory().get("/")
    request.user = agent
    html = render_to_string(
        "support/_record_tickets.html",
        {"customer": customer, "object_type": "customer", "object_key": customer.pk, "user": agent, "request": request},
    )

    assert (
        f'hx-get="/tickets/record/?object_type=customer&amp;object_key={customer.pk}&amp;customer={customer.pk}"'
        in html
    )
    assert "{#" not in html and "Keys:" not in html  # the template's comment stays a comment


def test_the_second_page_of_the_open_queue_is_still_the_open_queue(
    agent: User, client_for: Callable[[User], Client], customer: Customer
) -> None:
    for n in range(52):
        ticket_open(category="other", subject=f"待办{n}", customer=customer, by=agent)
    Ticket.objects.filter(subject="待办0").update(status=TicketStatus.CLOSED)
    client = client_for(agent)

    second = client.get("/tickets/", {"page": "2"})

    assert second.context["page"].paginator.count == 51
    assert len(second.context["tickets"]) == 1


def test_the_ticket_filters_read_as_words_not_codes_or_dashes(
    agent: User, client_for: Callable[[User], Client]
) -> None:
    response = client_for(agent).get("/tickets/", {"assignee": "me", "open": "true"})

    body = response.content.decode()
    assert "me / none" not in body and "---------" not in body and "未知" not in body
    form = response.context["filter"].form
    assignee = dict(form.fields["assignee"].widget.choices)
    assert (assignee["me"], assignee["none"], assignee[agent.username]) == ("我自己", "未分配", agent.username)
    assert dict(form.fields["open"].widget.choices) == {"": "全部", "true": "未关闭", "false": "已关闭"}
    assert '<option value="me" selected>我自己</option>' in body
    assert '<option value="true" selected>未关闭</option>' in body


def test_a_record_page_names_its_tickets_and_counts_them_all(
    agent: User, client_for: Callable[[User], Client], customer: Customer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import support.views.tickets

    monkeypatch.setattr(support.views.tickets, "RECORD_TICKETS", 2)
    tickets = [ticket_open(category="other", subject=f"咨询{n}", customer=customer, by=agent) for n in range(3)]
    response = client_for(agent).get(
        "/tickets/record/", {"object_type": "customer", "object_key": str(customer.pk), "customer": str(customer.pk)}
    )
    body = response.content.decode()
    assert '<span class="badge">3</span>' in body
    assert f'href="/tickets/{tickets[-1].pk}/">咨询2</a>' in body  # by its subject, not its id
    assert "查看相关工单" in body  # the rest in the ticket list


def test_the_unfiltered_list_is_the_open_queue_and_its_filter_says_so(
    agent: User, client_for: Callable[[User], Client], customer: Customer
) -> None:
    ticket_open(category="other", subject="待办", customer=customer, by=agent)
    closed = ticket_open(category="other", subject="已办", customer=customer, by=agent)
    Ticket.objects.filter(pk=closed.pk).update(status=TicketStatus.CLOSED)
    client = client_for(agent)

    default = client.get("/tickets/")
    every = client.get("/tickets/", {"open": ""})

    assert [t.subject for t in default.context["tickets"]] == ["待办"]
    assert '<option value="true" selected>未关闭</option>' in default.content.decode()  # not 全部 over an open list
    assert sorted(t.subject for t in every.context["tickets"]) == ["已办", "待办"]


def test_the_ticket_page_offers_unassigned_in_words(
    agent: User, client_for: Callable[[User], Client], customer: Customer
) -> None:
    ticket = ticket_open(category="other", subject="咨询", customer=customer, by=agent)
    for url in (f"/tickets/{ticket.pk}/", "/tickets/new/"):
        body = client_for(agent).get(url).content.decode()
        assert "---------" not in body, url
        assert re.search(r'<option value=""( selected)?>未分配</option>', body), url
