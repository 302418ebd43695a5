"""``{% record_query card=… %}``: the query string naming a record (customer, card, plate) for its monthly statistics
(support/record_stats.py), loaded into the record pages."""

from __future__ import annotations

from urllib.parse import urlencode

from django import template
from django.urls import reverse

from support.record_stats import record_stats_params

register = template.Library()


@register.simple_tag
def record_query(**record: object) -> str:
    return urlencode({key: str(value) for key, value in record.items() if value not in (None, "")})


@register.simple_tag
def record_stats_url(**record: object) -> str:
    """The record's question on ``/stats/``: the same period, by month and invoice state."""
    filters = {key: value for key, value in record.items() if value not in (None, "")}
    return f"{reverse('stats')}?{urlencode(record_stats_params(**filters))}"
