"""The selection keys of the trips list's checkboxes (what the pager carries and the actions read)."""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.simple_tag
def select_key(trip: Any, segment: Any = None) -> str:
    """``<card>:<pass id>`` for a trip, ``<card>:<pass id>#<segment no>`` for one of its segments."""
    key = f"{trip.card_no}:{trip.pass_id}"
    return key if segment is None else f"{key}#{segment.segment_no}"
