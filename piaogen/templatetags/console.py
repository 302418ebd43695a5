"""Template filters every console page uses."""

from __future__ import annotations

from datetime import timedelta

from django import template
from django.utils.translation import gettext as _

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
