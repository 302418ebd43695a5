"""``GET /api/v1/statistics/``: the query statistics of the console page (support/stats/) as JSON, with the same
parameters, so a province's own systems can reconcile. Amounts are integer fen, like the rest of the API; a
province token's figures are its province's only, whatever ``province`` says."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode

from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from invoicing.models import BusinessLine, DocumentKind, DocumentStatus
from piaogen.identifiers import CardType, Province, VehicleClass
from piaogen.models import Role, User
from piaogen.privacy import MaskedDictField
from support.stats import (
    DIMENSIONS,
    MAX_GROUPS,
    STATE_GROUPS,
    STATE_LABELS,
    SUBJECTS,
    StatsTooBroad,
    query_from,
    statistics,
)


class StatisticsQuerySerializer(serializers.Serializer[Any]):
    """The parameters: those of the console page ``/stats/``."""

    subject = serializers.ChoiceField(choices=list(SUBJECTS), required=False, help_text=_("统计对象，默认 segments"))
    start = serializers.DateField(required=False, help_text=_("通行日期起（票据：通行期间）"))
    end = serializers.DateField(required=False, help_text=_("通行日期止"))
    issued_start = serializers.DateField(required=False, help_text=_("开票日期起"))
    issued_end = serializers.DateField(required=False, help_text=_("开票日期止"))
    province = serializers.ChoiceField(choices=Province.values, required=False, help_text=_("省份代码"))
    operator = serializers.IntegerField(required=False, min_value=1, help_text=_("路段业主/销售方编号"))
    toll_unit = serializers.CharField(required=False, max_length=16, help_text=_("收费单元编号"))
    business_line = serializers.ChoiceField(choices=BusinessLine.values, required=False)
    document_kind = serializers.ChoiceField(choices=DocumentKind.values, required=False)
    document_status = serializers.ChoiceField(choices=DocumentStatus.values, required=False)
    card_type = serializers.ChoiceField(choices=CardType.values, required=False)
    vehicle_class = serializers.ChoiceField(choices=VehicleClass.values, required=False)
    plate = serializers.CharField(required=False, max_length=10)
    card = serializers.CharField(required=False, max_length=20)
    customer = serializers.IntegerField(required=False, min_value=1)
    buyer = serializers.CharField(required=False, max_length=200, help_text=_("购买方抬头（包含）"))
    batch = serializers.IntegerField(required=False, min_value=1, help_text=_("上传批次编号"))
    state = serializers.ChoiceField(
        choices=[*STATE_GROUPS, *STATE_LABELS],
        required=False,
        help_text=_("开票状态及原因；invoiced、waiting、ineligible 为三类结果（各含若干状态）"),
    )
    group_by = serializers.CharField(
        required=False,
        help_text=_(
            "分组维度，逗号分隔，最多两个：day, month, province, operator, business_line, state, vehicle_class, "
            "document_kind（默认 day）"
        ),
    )

    def validate_group_by(self, value: str) -> str:
        parts = [part.strip() for part in value.split(",") if part.strip()]
        unknown = [part for part in parts if part not in DIMENSIONS]
        if unknown or len(parts) > MAX_GROUPS:
            raise serializers.ValidationError(
                _("分组维度最多%(n)s个，取值：%(names)s") % {"n": MAX_GROUPS, "names": ", ".join(DIMENSIONS)}
            )
        return value


class MeasureSerializer(serializers.Serializer[Any]):
    key = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]  # a field, popped by the metaclass
    money = serializers.BooleanField(help_text=_("true：金额（分）"))


class StatisticsRowSerializer(serializers.Serializer[Any]):
    keys = MaskedDictField(child=serializers.CharField(allow_null=True), help_text=_("维度 → 取值（代码）"))
    labels = MaskedDictField(child=serializers.CharField(), help_text=_("维度 → 名称"))
    values = MaskedDictField(child=serializers.IntegerField(), help_text=_("度量 → 数量或金额（分）"))
    rows_url = serializers.CharField(help_text=_("该格明细的控制台页面"))


class StatisticsSerializer(serializers.Serializer[Any]):
    subject = serializers.CharField()
    group_by = serializers.ListField(child=serializers.CharField())
    filters = MaskedDictField(child=serializers.CharField(), help_text=_("生效的筛选条件（含默认日期与省份范围）"))
    measures = MeasureSerializer(many=True)
    rows = StatisticsRowSerializer(many=True)
    total = MaskedDictField(child=serializers.IntegerField())


def _key(value: Any) -> str | None:
    if value is None:
        return None
    return value.isoformat() if isinstance(value, dt.date) else str(value)


class StatisticsView(APIView):
    """Query statistics (查询统计): counts and amounts grouped by up to two dimensions."""

    allowed_roles = (Role.AGENT, Role.PROVINCE, Role.MANAGER, Role.MAINTAINER)

    @extend_schema(
        parameters=[StatisticsQuerySerializer],
        responses={
            200: StatisticsSerializer,
            400: OpenApiResponse(description=_("参数无效，或按开票状态统计的明细过多")),
        },
    )
    def get(self, request: Request) -> Response:
        user = request.user
        assert isinstance(user, User)
        params = StatisticsQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        query = query_from(request.query_params, user=user)
        try:
            stats = statistics(user=user, query=query)
        except StatsTooBroad as error:
            raise serializers.ValidationError({"state": [error.message()]}) from error
        rows_path = reverse("stats-rows")
        data = {
            "subject": query.subject,
            "group_by": list(query.group_by),
            "filters": {k: v for k, v in query.params().items() if k != "group_by"},
            "measures": [{"key": m.key, "label": str(m.label), "money": m.money} for m in stats.measures],
            "rows": [
                {
                    "keys": {d: _key(k) for d, k in zip(stats.dimensions, cell.keys, strict=True)},
                    "labels": dict(zip(stats.dimensions, cell.labels, strict=True)),
                    "values": cell.values,
                    "rows_url": f"{rows_path}?{urlencode(cell.query.params())}",
                }
                for cell in stats.cells
            ],
            "total": stats.total,
        }
        return Response(StatisticsSerializer(data).data)
