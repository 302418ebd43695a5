"""``Idempotency-Key`` on uploads and commands: a retried POST gets the first answer instead of a second batch or
document.

The key row and the command's own writes commit in one transaction. A repeat waits on the first one's row (the
unique index) and then answers what it answered; a key reused for a different request is refused (422
``idempotency_key_reused``). Errors raised by the command roll the key back with everything else: a corrected
request may use the key again. Keys belong to the API token that sent them (or, from the console, to the user).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.response import Response

from piaogen.models import ApiToken, IdempotentRequest, User

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255

PARAMETER = OpenApiParameter(
    HEADER,
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="Any string up to 255 characters (a UUID is a good choice): a repeat with the same key answers the "
    "first answer again; the same key with a different request is refused (422 `idempotency_key_reused`).",
)


class KeyReused(exceptions.APIException):
    status_code = 422
    default_detail = _("该幂等键已用于另一个请求。")
    default_code = "idempotency_key_reused"


def _value(value: Any) -> Any:
    if isinstance(value, UploadedFile):
        digest = hashlib.sha256()
        for chunk in value.chunks():
            digest.update(chunk)
        value.seek(0)
        return {"file": digest.hexdigest()}
    return value


def fingerprint(request: Request) -> str:
    """Method, path and request data (files by their SHA-256): what makes two requests "the same"."""
    data = request.data
    items = {key: [_value(v) for v in data.getlist(key)] for key in data} if hasattr(data, "getlist") else data
    text = json.dumps([request.method, request.path, items], sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _replay(record: IdempotentRequest) -> Response:
    headers = {"Idempotent-Replayed": "true"}
    if record.location:
        headers["Location"] = record.location
    return Response(record.body, status=record.status_code, headers=headers)


def idempotent(view: Callable[..., Response]) -> Callable[..., Response]:
    """Decorate a POST handler (``def post(self, request, …)``) so that it honours ``Idempotency-Key``."""

    @wraps(view)
    def wrapper(self: Any, request: Request, *args: Any, **kwargs: Any) -> Response:
        key = request.headers.get(HEADER)
        if not key:
            return view(self, request, *args, **kwargs)
        if len(key) > MAX_KEY_LENGTH:
            raise exceptions.ValidationError({HEADER: [_("幂等键最长255个字符。")]})
        user = request.user
        assert isinstance(user, User)
        token = request.auth if isinstance(request.auth, ApiToken) else None
        owner = {"token": token} if token else {"user": user, "token": None}
        print_ = fingerprint(request)
        with transaction.atomic():
            try:
                with transaction.atomic():  # waits here while a concurrent request holds the same key
                    record = IdempotentRequest.objects.create(
                        user=user, token=token, key=key, fingerprint=print_, status_code=0, body={}
                    )
            except IntegrityError:
                record = IdempotentRequest.objects.get(key=key, **owner)
                if record.fingerprint != print_:
                    raise KeyReused from None
                return _replay(record)
            response = view(self, request, *args, **kwargs)
            record.status_code = response.status_code
            record.body = response.data
            record.location = response.headers.get("Location", "")
            record.save(update_fields=["status_code", "body", "location"])
        return response

    return wrapper


def idempotent_requests_expire() -> int:
    """Forget the answers older than ``PIAOGEN["IDEMPOTENCY_KEY_DAYS"]`` (a key reused after that is a new
    request). Returns how many were forgotten."""
    days = int(settings.PIAOGEN.get("IDEMPOTENCY_KEY_DAYS", 30))
    cutoff = timezone.now() - dt.timedelta(days=days)
    deleted, _by_model = IdempotentRequest.objects.filter(created_at__lt=cutoff).delete()  # idempotent_created_idx
    return deleted
