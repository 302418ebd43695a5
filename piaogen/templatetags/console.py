"""Template filters and tags every console page uses."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from django import template
from django.utils.translation import gettext as _

from piaogen.money import format_yuan
from piaogen.privacy import shown

register = template.Library()


@register.filter
def duration(value: timedelta | None) -> str:
    """A short, human duration: 0.8 秒, 42 秒, 3 分 05 秒, 2 小时 07 分."""
    if value is None:
        return "—"
    seconds = value.total_seconds()
    if seconds < 10:
        return _("%(s).1f 秒") % {"s": seconds}
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return _("%(h)d 小时 %(m)02d 分") % {"h": hours, "m": minutes}
    if minutes:
        return _("%(m)d 分 %(s)02d 秒") % {"m": minutes, "s": secs}
    return _("%(s)d 秒") % {"s": secs}


@register.filter
def yuan(fen: int | None) -> str:
    """Integer fen as ¥ with two decimals: 289200 → ¥2,892.00."""
    return "—" if fen is None else format_yuan(fen)


@register.filter
def tax_rate(rate: Decimal | None) -> str:
    """A VAT rate as printed: 0.050 → 5%; None → 不征税."""
    if rate is None:
        return _("不征税")
    return f"{(rate * 100).normalize():f}%"


@register.filter
def pii(value: object, kind: str) -> str:
    """Personal data as the reader may see it (``piaogen.privacy``): ``{{ customer.phone|pii:"phone" }}`` is masked
    unless the view handed a `Revealed` value. Every template variable holding personal data goes through it."""
    return shown(kind, value)


@register.simple_tag(takes_context=True)
def page_query(context: dict[str, Any], param: str, number: int) -> str:
    """A list pager's link (_list_pager.html): ``?…`` with ``param`` set to ``number`` and the rest of the current
    query kept — the other lists' pages, the ticks a selection form carries, the ticket worked on — (an htmx
    fragment's ``part`` dropped: the link opens the whole page)."""
    query = context["request"].GET.copy()
    query.pop("part", None)
    query[param] = str(number)
    return "?" + query.urlencode()
