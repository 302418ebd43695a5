"""The document filter shared by the console and the API (invoicing/filters.py)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from invoicing.issuing import document_reverse, issue_segments
from invoicing.models import Document
from piaogen.models import Role, User
from tests.fixtures.invoicing import OTHER_CARD, segment

pytestmark = pytest.mark.django_db


def test_updated_since_lists_documents_issued_or_reversed_since(
    world: dict[str, Any], make_staff: Callable[..., User]
) -> None:
    (old,) = issue_segments(segment_ids=[segment(world, fee=1000).pk])
    (reversed_,) = issue_segments(segment_ids=[segment(world, fee=2000, card_no=OTHER_CARD).pk])
    long_ago = timezone.now() - dt.timedelta(days=3)
    Document.objects.filter(pk__in=[old.pk, reversed_.pk]).update(
        issued_at=long_ago, service_date=timezone.localdate(long_ago)
    )
    agent = make_staff(Role.AGENT)
    red = document_reverse(document=Document.objects.get(pk=reversed_.pk), reason="退费", by=agent)
    client = APIClient()
    client.force_authenticate(agent)

    since = (timezone.now() - dt.timedelta(hours=1)).isoformat()
    listed = client.get("/api/v1/documents/", {"updated_since": since}).json()

    assert {row["id"] for row in listed["results"]} == {reversed_.pk, red.pk}


@pytest.mark.parametrize("since", ["0407-02-16T14:49:33Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"])
def test_updated_since_far_in_the_past_or_future_is_no_server_error(
    since: str, make_staff: Callable[..., User]
) -> None:
    client = APIClient()
    client.force_authenticate(make_staff(Role.AGENT))

    assert client.get("/api/v1/documents/", {"updated_since": since}).status_code == 200
    assert client.get("/api/v1/uploads/", {"updated_since": since}).status_code == 200
