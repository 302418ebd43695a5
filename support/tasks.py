"""Support tasks (default queue): the query statistics' rollups (beat, every minute). Thin: call a service; safe to
run twice (an advisory lock, and a refresh adds only the rows above the watermark)."""

from __future__ import annotations

from celery import shared_task

from support.stats_rollup import document_rollup_refresh, segment_rollup_refresh


@shared_task
def segment_rollup_task() -> int:
    """Beat, every minute: roll up the segments above the watermark (support/stats_rollup.py)."""
    return segment_rollup_refresh()


@shared_task
def document_rollup_task() -> int:
    """Beat, every minute: roll up the documents above the watermark (support/stats_rollup.py)."""
    return document_rollup_refresh()
