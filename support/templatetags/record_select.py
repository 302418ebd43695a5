"""The selection keys of the trips' and top-ups' checkboxes (``support.records.select_key``, ``topup_key``)."""

from __future__ import annotations

from django import template

from support.records import select_key, topup_key

register = template.Library()
register.simple_tag(select_key)
register.simple_tag(topup_key)
