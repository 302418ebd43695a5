"""Report templates by API, for BI tools: `GET /api/v1/reports/` lists the templates, `GET /api/v1/reports/<slug>/`
returns a template's figures (tiles, charts' points, tables) for the same filters as its page, in the caller's
province scope (a province token sees its province whatever the query says). Amounts are integer fen, ratios
fractions (0.25 = 25 %), dates ISO; every number carries the console URL of the rows behind it (`drill`)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import Http404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from invoicing.models import BusinessLine, DocumentKind
from piaogen.identifiers import Province, VehicleClass
from piaogen.models import User
from piaogen.privacy import MaskedDictField, MaskedJSONField
from reports.catalog import REGISTRY, Drill, ReportData, template_for
from reports.exports import Fen, Ratio
from reports.rollups import rollups_as_of
from reports.selectors import REPORT_ROLES, drill_url, template_filters


def _user(request: Request) -> User:
    assert isinstance(request.user, User)
    return request.user


class ReportTemplateSerializer(serializers.Serializer[Any]):
    slug = serializers.CharField()
    title = serializers.CharField()
    question = serializers.CharField(help_text="the management question the template answers")
    default_period = serializers.ChoiceField(choices=["days", "month"], help_text="month: the last full month")
    url = serializers.CharField(help_text="the figures endpoint")
    page = serializers.CharField(help_text="the console page")


class TileSerializer(serializers.Serializer[Any]):
    key = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]  # the field is called label in the JSON
    unit = serializers.ChoiceField(choices=["count", "number", "money", "ratio"], help_text="money: integer fen")
    value = serializers.FloatField()
    previous = serializers.FloatField(allow_null=True, help_text="the same figure for the previous period")
    change = serializers.FloatField(allow_null=True, help_text="period-over-period change, 0.25 = +25 %")
    drill = serializers.CharField(help_text="console URL of the rows behind the figure; blank: none")


class PointSerializer(serializers.Serializer[Any]):
    key = serializers.CharField(help_text="the code behind the label")
    label = serializers.CharField()  # type: ignore[assignment]  # the field is called label in the JSON
    value = serializers.FloatField()
    drill = serializers.CharField()


class SeriesSerializer(serializers.Serializer[Any]):
    name = serializers.CharField()
    points = PointSerializer(many=True)


class FigureSerializer(serializers.Serializer[Any]):
    id = serializers.CharField()
    title = serializers.CharField()
    kind = serializers.ChoiceField(choices=["bar", "hbar", "line", "group"])
    unit = serializers.ChoiceField(choices=["count", "number", "money", "ratio"])
    series = SeriesSerializer(many=True)


class ColumnSerializer(serializers.Serializer[Any]):
    label = serializers.CharField()  # type: ignore[assignment]  # the field is called label in the JSON
    unit = serializers.CharField(help_text="text, count, number, money (integer fen), ratio or date")


class TableSerializer(serializers.Serializer[Any]):
    id = serializers.CharField()
    title = serializers.CharField()
    columns = ColumnSerializer(many=True)
    rows = serializers.ListField(child=serializers.ListField(child=MaskedJSONField()))


class ReportFiguresSerializer(serializers.Serializer[Any]):
    template = serializers.CharField()
    title = serializers.CharField()
    filters = MaskedDictField(child=serializers.CharField(), help_text="the filters in force (scope applied)")
    as_of = serializers.DateTimeField(allow_null=True, help_text="how fresh the figures are")
    tiles = TileSerializer(many=True)
    figures = FigureSerializer(many=True)
    tables = TableSerializer(many=True)
    notes = serializers.ListField(child=serializers.CharField())


FILTER_PARAMETERS = [
    OpenApiParameter("start", OpenApiTypes.DATE, description="first day (Beijing); default: 30 days or last month"),
    OpenApiParameter("end", OpenApiTypes.DATE, description="last day (Beijing); default: today"),
    OpenApiParameter("province", str, enum=Province.values, description="ignored for province users and tokens"),
    OpenApiParameter("business_line", str, enum=BusinessLine.values),
    OpenApiParameter("operator", int, description="seller (operator) id"),
    OpenApiParameter("vehicle_class", int, enum=VehicleClass.values),
    OpenApiParameter("document_kind", str, enum=DocumentKind.values),
]


def _json(value: Any) -> Any:
    if isinstance(value, Fen):
        return int(value)
    if isinstance(value, Ratio):
        return float(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def figures_json(data: ReportData, drill: Any) -> dict[str, Any]:
    def url(target: Drill | None) -> str:
        return drill(target[0], **target[1]) if target else ""

    return {
        "template": data.slug,
        "title": data.title,
        "filters": data.filters.params(),
        "tiles": [
            {"key": tile.key, "label": tile.label, "unit": tile.unit, "value": tile.value, "previous": tile.previous,
             "change": tile.change, "drill": url(tile.drill)}
            for tile in data.tiles
        ],
        "figures": [
            {"id": figure.id, "title": figure.title, "kind": figure.kind, "unit": figure.unit, "series": [
                {"name": series.name, "points": [
                    {"key": point.key, "label": point.label, "value": point.value, "drill": url(point.drill)}
                    for point in series.points
                ]}
                for series in figure.series
            ]}
            for figure in data.figures
        ],
        "tables": [
            {"id": table.id, "title": table.title,
             "columns": [{"label": column.label, "unit": column.unit} for column in table.columns],
             "rows": [[_json(cell) for cell in row.cells] for row in table.rows]}
            for table in data.tables
        ],
        "notes": data.notes,
    }  # fmt: skip


class ReportTemplateList(APIView):
    """The report templates: what question each answers, and where its figures are."""

    allowed_roles = REPORT_ROLES

    @extend_schema(responses={200: ReportTemplateSerializer(many=True)})
    def get(self, request: Request) -> Response:
        return Response(
            [
                {
                    "slug": template.slug,
                    "title": str(template.title),
                    "question": str(template.question),
                    "default_period": template.default_period,
                    "url": reverse("api-report-detail", args=[template.slug]),
                    "page": reverse("report-template", args=[template.slug]),
                }
                for template in REGISTRY.values()
            ]
        )


class ReportTemplateDetail(APIView):
    """A template's figures for the filters (the same as its page's), in the caller's province scope."""

    allowed_roles = REPORT_ROLES

    @extend_schema(parameters=FILTER_PARAMETERS, responses={200: ReportFiguresSerializer})
    def get(self, request: Request, slug: str) -> Response:
        template = template_for(slug)
        if template is None:
            raise Http404
        user = _user(request)
        filters = template_filters(template, user, request.query_params)
        body = figures_json(template.build(filters), drill_url(filters, user))
        body["as_of"] = rollups_as_of()
        return Response(body)
