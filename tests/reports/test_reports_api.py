"""The report templates by API: the list, a template's figures for the page's filters, scoped for province tokens,
and described in the OpenAPI schema."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from conftest import REPORT_QUERY, TODAY
from django.db.models import Sum
from django.test import Client
from django.urls import reverse
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from invoicing.models import Document
from piaogen.models import ApiToken, Role, User
from reports.catalog import REGISTRY
from reports.rollups import rollups_refresh_all


@pytest.fixture
def rolled_up(world: dict[str, Any]) -> dict[str, Any]:
    rollups_refresh_all(today=TODAY)
    return world


def test_the_list_names_every_template_with_its_question_and_endpoints(
    manager: User, client_for: Callable[[User], Client]
) -> None:
    response = client_for(manager).get(reverse("api-report-list"))

    assert response.status_code == 200
    body = response.json()
    assert [entry["slug"] for entry in body] == list(REGISTRY)
    assert body[1]["url"] == "/api/v1/reports/provinces/" and body[1]["page"] == "/reports/templates/provinces/"
    assert all(entry["question"] and entry["title"] for entry in body)


def test_a_template_returns_the_figures_of_its_page_as_json(
    rolled_up: dict[str, Any], manager: User, client_for: Callable[[User], Client]
) -> None:
    client = client_for(manager)

    body = client.get(reverse("api-report-detail", args=["monthly"]), REPORT_QUERY).json()

    tiles = {tile["key"]: tile for tile in body["tiles"]}
    assert tiles["amount_gross"]["value"] == Document.objects.aggregate(total=Sum("amount_gross"))["total"]  # fen
    assert tiles["documents"]["value"] == Document.objects.exclude(status="red").count()
    assert tiles["documents"]["drill"].startswith("/reports/documents/?") and "blue=1" in tiles["documents"]["drill"]
    page = client.get(reverse("report-template", args=["monthly"]), REPORT_QUERY)
    assert [tile["label"] for tile in body["tiles"]] == [tile["label"] for tile in page.context["tiles"]]
    assert body["filters"] == {"start": "2026-11-01", "end": "2026-11-20"}
    assert body["as_of"] is not None
    lines = next(table for table in body["tables"] if table["id"] == "lines")
    assert lines["columns"][0] == {"label": "业务线", "unit": "text"}
    assert all(isinstance(row[3], int) for row in lines["rows"])  # amounts in fen


def test_a_province_token_gets_its_province_only_whatever_the_query_says(
    rolled_up: dict[str, Any], make_staff: Callable[..., User]
) -> None:
    _, key = ApiToken.issue(user=make_staff(Role.PROVINCE, "32", username="js-system"), name="江苏省级系统")
    client = APIClient()

    for slug in REGISTRY:
        response = client.get(
            reverse("api-report-detail", args=[slug]), {**REPORT_QUERY, "province": "33"},
            HTTP_AUTHORIZATION=f"Token {key}",
        )  # fmt: skip
        assert response.status_code == 200
        assert response.json()["filters"]["province"] == "32"
        assert "浙江" not in response.content.decode()
    body = client.get(reverse("api-report-detail", args=["monthly"]), REPORT_QUERY, HTTP_AUTHORIZATION=f"Token {key}")
    tiles = {tile["key"]: tile["value"] for tile in body.json()["tiles"]}
    assert tiles["amount_gross"] == Document.objects.filter(province="32").aggregate(total=Sum("amount_gross"))["total"]


def test_an_unknown_template_is_404_and_agents_are_refused(
    agent: User, manager: User, client_for: Callable[[User], Client]
) -> None:
    assert client_for(manager).get(reverse("api-report-detail", args=["nope"])).status_code == 404
    assert client_for(agent).get(reverse("api-report-list")).status_code == 403


def test_the_schema_documents_the_filters_and_the_figures() -> None:
    schema = SchemaGenerator().get_schema(request=None, public=True)

    operation = schema["paths"]["/api/v1/reports/{slug}/"]["get"]
    names = {parameter["name"] for parameter in operation["parameters"]}
    assert {"start", "end", "province", "business_line", "operator", "vehicle_class", "document_kind"} <= names
    assert "ReportFigures" in schema["components"]["schemas"]
    assert "/api/v1/reports/" in schema["paths"]
