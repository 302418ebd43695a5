"""Domain errors, mapped once.

A service refuses with a Django ``ValidationError`` that carries a machine-readable ``code`` (``IssuingError``,
``ClaimError``, ``CustomerError``… are subclasses). How that refusal reaches a caller is decided here, for every app:

- **API**: ``api_error`` turns it into ``{"code", "detail"}`` with the status its code is registered for (409 for
  "the state does not allow it", 404, 429…) or 400. ``piaogen.api.exception_handler`` applies it to every API view,
  so views just call the service.
- **Pages**: ``page_message`` is the one line a page shows (``messages.error``); a form takes the error itself
  (``form.add_error(None, error)``), which shows every message.

Apps register the statuses of their codes in ``AppConfig.ready`` (``register_statuses``); the base imports no app.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from rest_framework import serializers, status
from rest_framework.exceptions import APIException

STATUSES: dict[str, int] = {}
"""HTTP status by domain error code; a code not registered is a 400."""


def register_statuses(statuses: dict[str, int]) -> None:
    STATUSES.update(statuses)


def error_code(error: ValidationError) -> str:
    """The first code the error carries ("invalid" when none does)."""
    return next((item.code for item in getattr(error, "error_list", [error]) if item.code), "invalid")


def page_message(error: ValidationError) -> str:
    """The error as one line for a page: its messages joined."""
    return str(_("；")).join(str(message) for message in error.messages)


class DomainError(APIException):
    status_code: int = status.HTTP_400_BAD_REQUEST
    default_code = "invalid"


def api_error(error: ValidationError, **extra: Any) -> DomainError:
    """The API answer to a domain error: ``{"code", "detail", **extra}`` with the code's registered status."""
    code = error_code(error)
    answer = DomainError({"detail": page_message(error), "code": code, **extra})
    answer.status_code = STATUSES.get(code, status.HTTP_400_BAD_REQUEST)
    return answer


class DomainErrorSerializer(serializers.Serializer[Any]):
    """The body of a domain error in the schema."""

    detail = serializers.CharField()
    code = serializers.CharField()


def _schema() -> dict[int, Any]:
    from django.utils.translation import gettext_lazy
    from drf_spectacular.types import OpenApiTypes
    from drf_spectacular.utils import OpenApiResponse

    return {
        # a domain error ({code, detail}) or an input serializer's field errors ({field: [messages]})
        400: OpenApiResponse(
            OpenApiTypes.OBJECT, description=gettext_lazy("请求无效：{code, detail}，或按字段列出的错误")
        ),
        409: OpenApiResponse(DomainErrorSerializer, description=gettext_lazy("当前状态不允许该操作")),
    }


DOMAIN_ERRORS = _schema()
"""``extend_schema(responses={201: …, **DOMAIN_ERRORS})`` for a command that calls a service."""
