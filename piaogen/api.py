"""What every API endpoint shares: one error shape with a machine-readable ``code`` (``exception_handler``), the
binary renderers downloads negotiate with (``Accept`` or ``?format=``), and the schema
post-processing that documents every error status with its body.

An error body is always ``{"code": "…", "detail": "…"}``; field errors add ``"errors": [{"field", "code",
"message"}]``; a few commands add their own keys beside (the invoice request's ``rejected``). docs/integration.md
lists every code.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpResponseBase
from django.utils.translation import gettext as _
from rest_framework import exceptions
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler

from piaogen.errors import api_error

STATUS_CODES = {
    400: "invalid",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    429: "throttled",
}
"""The ``code`` of an error that brings none of its own, by HTTP status."""


class PayloadTooLarge(exceptions.APIException):
    status_code = 413
    default_detail = "Payload too large."
    default_code = "too_large"


# --- one error shape ------------------------------------------------------------------------------------------------


def _field_errors(detail: Any, prefix: str = "") -> list[dict[str, str]]:
    """DRF's nested field errors, flattened: ``{"items": [{"id": [e]}]}`` → ``[{"field": "items.0.id", …}]``."""
    if isinstance(detail, dict):
        return [error for key, value in detail.items() for error in _field_errors(value, f"{prefix}{key}.")]
    if isinstance(detail, list):
        if all(isinstance(item, exceptions.ErrorDetail) for item in detail):
            field = prefix.rstrip(".") or api_settings.NON_FIELD_ERRORS_KEY
            return [{"field": field, "code": str(item.code), "message": str(item)} for item in detail]
        return [error for index, item in enumerate(detail) for error in _field_errors(item, f"{prefix}{index}.")]
    if isinstance(detail, exceptions.ErrorDetail):
        field = prefix.rstrip(".") or api_settings.NON_FIELD_ERRORS_KEY
        return [{"field": field, "code": str(detail.code), "message": str(detail)}]
    return []


def error_body(exc: exceptions.APIException) -> dict[str, Any]:
    """The body of an API error: ``code`` and ``detail`` always, ``errors`` for field errors."""
    detail = exc.detail
    if isinstance(detail, dict) and "code" in detail and "detail" in detail:  # a domain error, already shaped
        return {key: (str(value) if key in ("code", "detail") else value) for key, value in detail.items()}
    fallback = STATUS_CODES.get(exc.status_code, "error")
    if isinstance(exc, exceptions.ValidationError) or isinstance(detail, dict | list):
        errors = _field_errors(detail)
        whole = api_settings.NON_FIELD_ERRORS_KEY
        lines = [e["message"] if e["field"] == whole else f"{e['field']}: {e['message']}" for e in errors]
        return {"code": fallback, "detail": str(_("；")).join(lines) or _("请求无效。"), "errors": errors}
    code = getattr(detail, "code", None) or fallback
    return {"code": str(code), "detail": str(detail)}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, then the one error shape; errors are JSON even where a download (CSV, PDF) was negotiated.
    A domain error (a Django ``ValidationError`` from a service) answers with its code's status (piaogen.errors)."""
    if isinstance(exc, DjangoValidationError):
        exc = api_error(exc)
    elif isinstance(exc, Http404):  # our own message; never get_object_or_404's "No <Model> matches the given query."
        message = str(exc) if exc.args else ""
        exc = exceptions.NotFound(None if message.endswith("matches the given query.") else message or None)
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) if exc.args else None)
    response = drf_exception_handler(exc, context)
    if response is None or not isinstance(exc, exceptions.APIException):
        return response
    response.data = error_body(exc)
    request = context.get("request")
    if request is not None and not isinstance(getattr(request, "accepted_renderer", None), JSONRenderer):
        request.accepted_renderer = JSONRenderer()  # finalize_response renders with it
        request.accepted_media_type = "application/json"
    return response


# --- downloads ------------------------------------------------------------------------------------------------------


class BinaryRenderer(BaseRenderer):
    """A download the view builds itself (a ``FileResponse``): the renderer only lets ``Accept`` or ``?format=``
    choose it."""

    charset = None
    render_style = "binary"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        return data if isinstance(data, bytes) else b""


class CsvRenderer(BinaryRenderer):
    media_type = "text/csv"
    format = "csv"


class XlsxRenderer(BinaryRenderer):
    media_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    format = "xlsx"


class PdfRenderer(BinaryRenderer):
    media_type = "application/pdf"
    format = "pdf"


class OctetStreamRenderer(BinaryRenderer):
    """``Accept: application/octet-stream``: the same download (CSV or PDF) under the generic binary type."""

    media_type = "application/octet-stream"
    format = "octet"


def binary_responses(*media_types: str) -> dict[tuple[int, str], Any]:
    """The schema of a download: ``application/octet-stream`` first (generated clients read it as bytes), then
    the types the endpoint negotiates by ``Accept`` or ``?format=``."""
    from drf_spectacular.types import OpenApiTypes

    return {(200, media_type): OpenApiTypes.BINARY for media_type in (OctetStreamRenderer.media_type, *media_types)}


def download(request: Any, response: HttpResponseBase) -> HttpResponseBase:
    """A file response in the negotiated type: relabelled when the client asked for ``application/octet-stream``."""
    if isinstance(getattr(request, "accepted_renderer", None), OctetStreamRenderer):
        response["Content-Type"] = OctetStreamRenderer.media_type
    return response


# --- schema ---------------------------------------------------------------------------------------------------------

ERROR_DESCRIPTIONS = {
    "400": "Invalid request (`invalid` with field `errors`, or a domain code)",
    "401": "No or invalid token (`not_authenticated`, `authentication_failed`)",
    "403": "The caller's role may not do this (`permission_denied`)",
    "404": "No such object in the caller's scope (`not_found`)",
    "413": "Upload larger than the limit (`too_large`)",
    "415": "Wrong request content type (`unsupported_media_type`)",
    "429": "Too many requests for this token (`throttled`; see Retry-After)",
}


def schema_postprocess(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular hook: every operation documents its error statuses with the ``Error`` body; parameters
    carry no (Chinese) title, from which generated clients would name their enum classes."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault(
        "Error",
        {
            "type": "object",
            "properties": {
                "code": {"type": "string"},
                "detail": {"type": "string"},
                "errors": {"type": "array", "items": {"$ref": "#/components/schemas/FieldError"}},
            },
            "required": ["code", "detail"],
            "additionalProperties": True,
        },
    )
    schemas.setdefault(
        "FieldError",
        {
            "type": "object",
            "properties": {"field": {"type": "string"}, "code": {"type": "string"}, "message": {"type": "string"}},
            "required": ["field", "code", "message"],
        },
    )
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            statuses = ["400", "401", "403", "404", "429"]
            if method in ("post", "put", "patch"):
                statuses.append("415")
                if "multipart/form-data" in operation.get("requestBody", {}).get("content", {}):
                    statuses.append("413")
            responses = operation.setdefault("responses", {})
            for status in statuses:
                responses.setdefault(status, {"description": ERROR_DESCRIPTIONS[status], "content": error})
            for parameter in operation.get("parameters", []):  # a filter's Chinese label would name a client class
                schema = parameter.get("schema", {})
                schema.pop("title", None)
                schema.get("items", {}).pop("title", None)
            for status, response in responses.items():  # an untyped error body (OpenApiTypes.OBJECT) is ours
                schema = response.get("content", {}).get("application/json", {}).get("schema", {})
                if status.startswith("4") and "$ref" not in schema:
                    response["content"] = error
    return result
