"""The day-7 rule has no back door (issue #12 item 4): whatever date a command, a run, a request or a caller names,
nothing is issued before its invoiceable day, judged on the real Beijing date."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from invoicing.eligibility import BEIJING, beijing_today, issuing_today, trip_cutoff
from invoicing.issuing import (
    issue_run_create_daily,
    issue_run_create_monthly,
    issue_run_daily,
    issue_run_monthly,
    issue_segments,
)
from invoicing.models import Document, InvoiceCycle, IssueRun
from piaogen.roles import Role
from tests.fixtures import issuing
from tests.fixtures.issuing import live_items, segment

world = issuing.world  # the fixture


def days_ago(days: int) -> dt.datetime:
    """Noon, Beijing time, ``days`` days before the real Beijing date."""
    day = beijing_today() - dt.timedelta(days=days)
    return dt.datetime(day.year, day.month, day.day, 12, tzinfo=BEIJING)


def test_issuing_today_is_never_later_than_the_real_beijing_date() -> None:
    today = beijing_today()

    assert issuing_today() == today
    assert issuing_today(today + dt.timedelta(days=30)) == today
    assert issuing_today(dt.date(2020, 1, 1)) == dt.date(2020, 1, 1)


def test_a_caller_naming_a_later_date_cannot_issue_a_young_trip(world: dict[str, Any]) -> None:
    young = segment(world, exit_time=days_ago(2), fee=1000)
    ripe = segment(world, exit_time=days_ago(7), fee=500)

    issued = issue_segments(segment_ids=[young.pk, ripe.pk], today=beijing_today() + dt.timedelta(days=30))

    assert live_items(young) == [] and len(issued) == 1 and len(live_items(ripe)) == 1


def test_the_daily_run_of_a_recent_business_date_issues_nothing_early(world: dict[str, Any]) -> None:
    young = segment(world, exit_time=days_ago(1), fee=1000)
    run, _created = issue_run_create_daily(business_date=beijing_today())

    assert issue_run_daily(run_id=run.pk).documents_issued == 0
    assert live_items(young) == []


def test_a_run_whose_params_name_a_future_today_issues_nothing_early(world: dict[str, Any]) -> None:
    young = segment(world, exit_time=days_ago(3), fee=1000)
    future = (beijing_today() + dt.timedelta(days=20)).isoformat()
    daily, _ = issue_run_create_daily(business_date=beijing_today(), params={"today": future})
    world["customer"].invoice_cycle = InvoiceCycle.MONTHLY
    world["customer"].save()
    monthly, _ = issue_run_create_monthly(month=beijing_today(), params={"today": future})

    issue_run_daily(run_id=daily.pk)
    issue_run_monthly(run_id=monthly.pk)

    assert live_items(young) == [] and Document.objects.count() == 0


def test_the_command_refuses_a_business_date_whose_cut_off_lies_in_the_future(world: dict[str, Any]) -> None:
    segment(world, exit_time=days_ago(2), fee=1000)
    recent = beijing_today() - dt.timedelta(days=2)

    with pytest.raises(CommandError, match="after today") as refused:
        call_command("issue_invoices", "--date", recent.isoformat())

    assert f"latest business date that can be issued today is {trip_cutoff().isoformat()}" in str(refused.value)
    assert Document.objects.count() == 0


def test_the_command_refuses_a_future_date_and_a_future_month(world: dict[str, Any]) -> None:
    tomorrow = beijing_today() + dt.timedelta(days=1)
    next_month = (beijing_today().replace(day=28) + dt.timedelta(days=5)).strftime("%Y-%m")

    with pytest.raises(CommandError, match="lies in the future"):
        call_command("issue_invoices", "--date", tomorrow.isoformat())
    with pytest.raises(CommandError, match="lies in the future"):
        call_command("issue_invoices", "--monthly", "--month", next_month)


def test_the_command_issues_the_latest_allowed_business_date(
    world: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    ripe = segment(world, exit_time=days_ago(7), fee=1000)

    call_command("issue_invoices", "--date", trip_cutoff().isoformat())

    assert len(live_items(ripe)) == 1 and "1 documents" in capsys.readouterr().out


def test_the_beat_runs_the_business_date_seven_days_back(world: dict[str, Any], monkeypatch: Any) -> None:
    from invoicing import tasks

    monkeypatch.setattr(tasks.issue_daily, "delay", lambda run_id: None)
    run_id = tasks.issue_run_start_daily()

    assert Document.objects.count() == 0
    assert IssueRun.objects.get(pk=run_id).business_date == trip_cutoff(beijing_today())


def test_an_api_request_for_a_young_trip_is_refused_as_not_yet(world: dict[str, Any], make_staff: Any) -> None:
    young = segment(world, exit_time=days_ago(1), fee=1000)
    client = APIClient()
    client.force_authenticate(make_staff(Role.AGENT))

    response = client.post("/api/v1/invoice-requests/", {"items": [{"kind": "segment", "id": young.pk}]}, format="json")

    assert response.status_code == 409, response.content
    assert [r["reason"] for r in response.json()["rejected"]] == ["not_yet"]
    assert live_items(young) == []
