"""``{% stats_url card=… %}``: the query statistics of a record (customer, card, plate) over the last year, by month
and invoice state — the record pages' one click into ``/stats/``."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

from django import template
from django.urls import reverse

from invoicing.eligibility import beijing_today

register = template.Library()


@register.simple_tag
def stats_url(**filters: object) -> str:
    today = beijing_today()
    params = {
        "start": (today - dt.timedelta(days=365)).isoformat(),
        "end": today.isoformat(),
        "group_by": "month,state",
        **{key: str(value) for key, value in filters.items() if value not in (None, "")},
    }
    return f"{reverse('stats')}?{urlencode(params)}"
