"""A fresh demo opens every report template on figures: the demo's upload history (through the real ingest), tickets
and searches (reports/demo.py), and a monthly template whose last month has no documents shows the month so far and
says so."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from invoicing.demo import demo_logins_create, demo_seed
from invoicing.issuing import issue_segments
from piaogen.models import User
from reports.catalog import REGISTRY, default_month
from reports.demo import demo_activity_exists, demo_activity_seed
from reports.filters import beijing_today
from reports.models import UploadLateness
from reports.rollups import rollups_refresh_all
from reports.views import template_period
from support.models import SearchEvent, Ticket
from tolling.models import Segment, UploadBatch

pytestmark = pytest.mark.django_db(transaction=True)  # the ingest works on connections of its own


def test_a_fresh_demo_shows_figures_on_every_templates_default_view(client_for: Callable[[User], Client]) -> None:
    today = beijing_today()
    demo_seed(segments=1_500, seed=3, today=today)
    demo_logins_create()
    counts = demo_activity_seed(seed=3, today=today)
    eligible = Segment.objects.filter(service_date__lte=today - dt.timedelta(days=7), fee__gt=0)
    issue_segments(segment_ids=list(eligible.values_list("pk", flat=True)[:300]), today=today)
    rollups_refresh_all(today=today)

    assert counts["upload batches"] == UploadBatch.objects.count() > 10 and demo_activity_exists()
    assert UploadBatch.objects.filter(status="refused").count() == 1 and Ticket.objects.count() == counts["tickets"]
    assert UploadLateness.objects.exists() and SearchEvent.objects.count() == counts["searches"]
    manager = User.objects.get(username="manager")
    for slug, template in REGISTRY.items():
        filters, note = template_period(template, manager, {})
        data = template.build(filters)
        assert note, slug
        assert data.tiles[0].value > 0, f"{slug} opens on zero ({filters.start} – {filters.end})"
    page = client_for(manager).get(reverse("report-template", args=["monthly"])).content.decode()
    assert not default_month(today, None)[2] or "显示本月至今" in page  # the demo issues its documents today
    assert "data-period-note" in page


def test_the_command_adds_nothing_when_activity_exists(db: None, make_staff: Callable[..., User]) -> None:
    SearchEvent.objects.create(user=make_staff("agent", username="searcher"), kind="plate")
    call_command("seed_report_demo", "--if-empty")
    assert SearchEvent.objects.count() == 1 and not UploadBatch.objects.exists()
