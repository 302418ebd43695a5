"""The audit trail: the database refuses to change or delete it; the viewer (agents and maintainers) filters by
actor, action, object and date range and pages; the CSV export has a BOM, Beijing times, and formula-safe cells."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db import DatabaseError, connection, transaction
from django.test import Client

from piaogen.audit import audit_record
from piaogen.models import AuditEvent, Role, User

BJ = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def event(agent: User) -> AuditEvent:
    return audit_record(
        actor=agent, action="document.reverse", object_type="invoicing.document", object_id="7", province="32",
        reason="客户要求", before={"status": "issued"}, after={"status": "reversed"},
    )  # fmt: skip


def test_the_database_refuses_to_update_the_audit_trail(event: AuditEvent) -> None:
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE piaogen_auditevent SET reason = 'changed' WHERE id = %s", [event.pk])
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(reason="changed")

    assert AuditEvent.objects.get(pk=event.pk).reason == "客户要求"


def test_the_database_refuses_to_delete_from_the_audit_trail(event: AuditEvent) -> None:
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM piaogen_auditevent WHERE id = %s", [event.pk])
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()

    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_an_event_cannot_be_saved_twice(event: AuditEvent) -> None:
    event.reason = "changed"
    with pytest.raises(ValueError, match="append-only"):
        event.save()


@pytest.mark.parametrize(
    ("role", "status"), [(Role.AGENT, 200), (Role.MAINTAINER, 200), (Role.MANAGER, 403), (Role.PROVINCE, 403)]
)
def test_agents_and_maintainers_read_the_trail_others_may_not(
    role: str, status: int, event: AuditEvent, make_staff: Callable[..., User], client_for: Callable[[User], Client]
) -> None:
    client = client_for(make_staff(role, "32" if role == Role.PROVINCE else ""))

    assert client.get("/audit/").status_code == status
    assert client.get("/audit/export.csv").status_code == status


def test_anonymous_users_are_sent_to_the_login(db: None) -> None:
    assert Client().get("/audit/")["Location"].startswith("/login/")


def test_the_viewer_filters_by_actor_action_object_and_dates(
    agent: User, maintainer: User, client_for: Callable[[User], Client]
) -> None:
    audit_record(actor=agent, action="document.reverse", object_type="invoicing.document", object_id="7")
    audit_record(actor=maintainer, action="ticket.open", object_type="support.ticket", object_id="3")
    audit_record(actor=agent, action="pii.reveal", object_type="invoicing.customer", object_id="9")
    AuditEvent.objects.create(
        at=dt.datetime(2026, 1, 15, 10, tzinfo=BJ), actor=agent, actor_name=agent.username, action="card.bind",
        object_type="invoicing.cardbinding", object_id="1",
    )  # fmt: skip
    client = client_for(agent)

    def actions(**query: str) -> list[str]:
        return sorted(row["event"].action for row in client.get("/audit/", query).context["rows"])

    assert actions(actor=maintainer.username) == ["ticket.open"]
    assert actions(action="document.") == ["document.reverse"]
    assert actions(object_type="invoicing.document", object_id="7") == ["document.reverse"]
    assert actions(date_from="2026-01-15", date_to="2026-01-15") == ["card.bind"]
    assert len(actions()) == 4


def test_the_viewer_pages(agent: User, client_for: Callable[[User], Client]) -> None:
    for n in range(55):
        audit_record(actor=agent, action="ticket.open", object_type="support.ticket", object_id=str(n))
    client = client_for(agent)

    first, second = client.get("/audit/"), client.get("/audit/", {"page": "2"})

    assert len(first.context["rows"]) == 50 and len(second.context["rows"]) == 5
    assert first.context["rows"][0]["event"].object_id == "54"  # newest first


def test_the_export_is_utf8_with_bom_in_beijing_time_formula_safe_and_filtered(
    agent: User, client_for: Callable[[User], Client]
) -> None:
    AuditEvent.objects.create(
        at=dt.datetime(2026, 3, 1, 23, 30, tzinfo=dt.UTC), actor=agent, actor_name=agent.username,
        action="document.reverse", object_type="invoicing.document", object_id="7", reason="=HYPERLINK(\"x\")",
        before={"status": "issued"}, ip="10.1.2.3",
    )  # fmt: skip
    audit_record(actor=agent, action="ticket.open", object_type="support.ticket", object_id="1", reason="+1")

    response = client_for(agent).get("/audit/export.csv", {"action": "document."})
    body = b"".join(response.streaming_content)  # type: ignore[attr-defined]

    assert response["Content-Type"].startswith("text/csv") and "attachment" in response["Content-Disposition"]
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0][:3] == ["时间（北京时间）", "操作人", "操作"]
    assert len(rows) == 2  # the header and the one matching event
    row = rows[1]
    assert row[0] == "2026-03-02 07:30:00"  # 23:30 UTC is 07:30 the next day in Beijing
    assert row[6] == '\'=HYPERLINK("x")'  # neutralised: a spreadsheet shows it as text
    assert (row[7], row[8]) == ("10.1.2.3", '{"status": "issued"}')


def test_the_actor_filter_finds_what_the_system_did(agent: User, client_for: Callable[[User], Client]) -> None:
    audit_record(actor=None, action="summary_sheet.void", object_type="invoicing.summarysheet", object_id="1")
    audit_record(actor=agent, action="ticket.open", object_type="support.ticket", object_id="2")

    rows = client_for(agent).get("/audit/", {"actor": "system"}).context["rows"]

    assert [row["event"].action for row in rows] == ["summary_sheet.void"]


def test_the_viewer_names_the_object_type_links_to_its_page_and_lists_changes_with_labels(
    agent: User, client_for: Callable[[User], Client]
) -> None:
    audit_record(
        actor=agent, action="upload.cancel", object_type="tolling.uploadbatch", object_id="16", province="32",
        reason="重复上传", before={"status": "queued"}, after={"status": "cancelled"},
    )  # fmt: skip

    response = client_for(agent).get("/audit/")

    row = response.context["rows"][0]
    assert (row["object_label"], row["object_url"]) == ("上传批次", "/uploads/16/")
    assert row["before"] == [("状态", "排队中")] and row["after"] == [("状态", "已取消")]
    body = response.content.decode()
    assert 'href="/uploads/16/">上传批次 16</a>' in body and "tolling.uploadbatch:16" not in body
    assert "<dt>状态</dt><dd>已取消</dd>" in body and "{&quot;status" not in body


def test_an_unknown_object_type_shows_as_it_is_without_a_link(
    agent: User, client_for: Callable[[User], Client]
) -> None:
    audit_record(actor=agent, action="x.y", object_type="nowhere.thing", object_id="3", after={"k": 1})

    row = client_for(agent).get("/audit/").context["rows"][0]

    assert (row["object_label"], row["object_url"], row["after"]) == ("nowhere.thing", "", [("k", "1")])


def test_an_actions_event_names_its_records_with_links_and_reads_in_words(
    agent: User, client_for: Callable[[User], Client], world: dict[str, Any], issued: Any
) -> None:
    """A support action's event (what ``support.actions.action_confirm`` writes) shows the customer, documents and
    cards it names by name or number with links, the province by name, and no action code, key or JSON."""
    customer, document = world["customer"], issued
    audit_record(
        actor=agent, action="support.request_invoices", obj=customer, province="32", reason="客户来电",
        before={"cards": ["32010000000000000003"], "customer": customer.pk, "titles": 1},
        after={"summary": "已开具1张票据", "action": 1,
               "links": [["card", "32010000000000000003"], ["document", str(document.pk)]]},
    )  # fmt: skip
    audit_record(actor=agent, action="document.reverse", obj=document, after={"red": document.pk})

    body = client_for(agent).get("/audit/").content.decode()

    assert f'<a href="/customers/{customer.pk}/">客户 {customer.name}</a>' in body
    assert f'<a href="/documents/{document.pk}/">票据 数电发票 {document}</a>' in body
    assert f'<dt>红字票据</dt><dd><a href="/documents/{document.pk}/">数电发票 {document}</a></dd>' in body
    assert "<dt>关联记录</dt>" in body and "ETC卡 32010000000000000003" in body
    assert "<dt>抬头数</dt><dd>1</dd>" in body and "<td>江苏</td>" in body
    for raw in (">support.request_invoices", "<code>", "[[", "&quot;", "<dt>links</dt>", "<dt>summary</dt>"):
        assert raw not in body, raw
    # the filters are selects by label; the URL keeps the code
    assert '<option value="support.request_invoices">客服：申请开票</option>' in body
    assert '<option value="invoicing.customer">客户</option>' in body
