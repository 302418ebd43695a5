"""The selection keys of the trips list's checkboxes (``support.records.select_key``)."""

from __future__ import annotations

from django import template

from support.records import select_key

register = template.Library()
register.simple_tag(select_key)
