"""Support tasks (default queue): the query statistics' segment rollup (beat, every minute). Thin: call a service;
safe to run twice (an advisory lock, and a refresh adds only the segments above the watermark)."""

from __future__ import annotations

from celery import shared_task

from support.stats_rollup import segment_rollup_refresh


@shared_task
def segment_rollup_task() -> int:
    """Beat, every minute: roll up the segments above the watermark (support/stats_rollup.py)."""
    return segment_rollup_refresh()
