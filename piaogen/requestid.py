"""One request id follows a piece of work from the web request into every Celery task it enqueues, and into
every log line and audit row written on its behalf.

The id comes from the `X-Request-ID` header a proxy sets (when it looks like an id) or is made here; the
response carries it back. Tasks get it as a message header (`before_task_publish`) and set it while they run
(`task_prerun`), so a task enqueued by a task keeps the original request's id.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from celery.signals import before_task_publish, task_postrun, task_prerun
from django.http import HttpRequest, HttpResponse

HEADER = "X-Request-ID"
TASK_HEADER = "piaogen_request_id"
VALID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")

_current: ContextVar[str] = ContextVar("piaogen_request_id", default="")


def current_request_id() -> str:
    return _current.get()


class RequestIdMiddleware:
    """Sets the request id for the duration of the request and echoes it in the response."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get(HEADER, "")
        request_id = incoming if VALID.match(incoming) else uuid.uuid4().hex
        token = _current.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            _current.reset(token)
        response[HEADER] = request_id
        return response


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every log record (empty outside a request or task)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _current.get()
        return True


@before_task_publish.connect
def _publish_with_request_id(headers: dict[str, Any] | None = None, **_: Any) -> None:
    request_id = _current.get()
    if headers is not None and request_id:
        headers.setdefault(TASK_HEADER, request_id)


@task_prerun.connect
def _task_takes_request_id(task: Any = None, **_: Any) -> None:
    request_id = getattr(task.request, TASK_HEADER, None) if task is not None else None
    _current.set(request_id or f"task-{getattr(task.request, 'id', '') or uuid.uuid4().hex}")


@task_postrun.connect
def _task_drops_request_id(**_: Any) -> None:
    _current.set("")
