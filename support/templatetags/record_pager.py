"""A record page's pagers: each list's pager link keeps the page's query (the other lists' pages, the ticks carried
by the selection form, the ticket worked on) and changes its own page only."""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.simple_tag(takes_context=True)
def page_query(context: dict[str, Any], param: str, number: int) -> str:
    """``?…`` with ``param`` set to ``number`` and the rest of the current query kept (an htmx fragment's
    ``part`` dropped: the link opens the whole page)."""
    query = context["request"].GET.copy()
    query.pop("part", None)
    query[param] = str(number)
    return "?" + query.urlencode()
