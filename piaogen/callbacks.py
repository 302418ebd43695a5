"""Callbacks to provincial systems: when work an API token started ends (an upload batch), a signed JSON POST goes
to the token's ``callback_url``, retried with backoff, each attempt logged on its ``CallbackDelivery`` row.

- ``callback_arm`` when the token starts the work (the upload): a ``waiting`` row per (token, event, object).
- ``callbacks_fire`` when the work ends: the armed rows get the payload and are sent after commit (once: the row is
  claimed by a conditional UPDATE, so a second end of the same batch sends nothing new).
- ``callback_attempt``: one POST; a 2xx answer is delivered, anything else is retried after 1, 2, 4 … minutes
  (at most an hour) until ``CALLBACK_MAX_ATTEMPTS`` (default 6).

Callbacks go to public addresses only: a URL whose host is (or resolves to) a loopback, private or link-local
address is refused when set and when sent, and redirects are not followed — unless ``CALLBACK_ALLOW_PRIVATE``
(``PIAOGEN_CALLBACK_ALLOW_PRIVATE``; on outside production, where receivers run on the same machine).

The receiver checks ``X-Piaogen-Signature: t=<unix seconds>,v1=<hex>`` where ``v1`` is HMAC-SHA256 with the
token's callback secret over ``"<t>.<raw body>"`` (``signature``), and may drop deliveries it has seen by
``X-Piaogen-Delivery`` (the row id).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import socket
import time
import urllib.error
import urllib.request
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from piaogen.models import ApiToken, CallbackDelivery, CallbackStatus

log = logging.getLogger(__name__)

DEFAULT_MAX_ATTEMPTS = 6
RETRY_BASE_SECONDS = 60
MAX_RETRY_SECONDS = 3600
TIMEOUT_SECONDS = 10
SIGNATURE_HEADER = "X-Piaogen-Signature"


def max_attempts() -> int:
    return int(settings.PIAOGEN.get("CALLBACK_MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS))


def retry_delay(attempts: int) -> int:
    """Seconds before the next attempt after ``attempts`` failed ones: base × 2^(attempts−1), at most an hour."""
    base = int(settings.PIAOGEN.get("CALLBACK_RETRY_BASE_SECONDS", RETRY_BASE_SECONDS))
    return int(min(MAX_RETRY_SECONDS, base * 2 ** max(0, attempts - 1)))


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The ``v1`` value of the signature header: what a receiver recomputes to trust a callback."""
    return hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()


def callback_host_refused(url: str) -> str:
    """Why the URL may not be called (its host is or resolves to a non-public address), or ``""``."""
    if settings.PIAOGEN.get("CALLBACK_ALLOW_PRIVATE"):
        return ""
    host = urlsplit(url).hostname or ""
    try:
        addresses = {str(info[4][0]) for info in socket.getaddrinfo(host, None)}
    except OSError as error:
        return f"{host}: {error}"
    private = sorted(a for a in addresses if not ipaddress.ip_address(a.split("%")[0]).is_global)
    return _("%(host)s 不是公网地址（%(address)s）") % {"host": host, "address": ", ".join(private)} if private else ""


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer, not a new destination: it counts as a failed attempt."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


@transaction.atomic
def api_token_callback_set(*, token: ApiToken, url: str) -> ApiToken:
    """Set (or with ``""`` clear) the token's callback URL; a secret is made the first time one is set. A URL
    of a non-public address is refused (ValidationError, code ``callback_url_refused``)."""
    if url and (refusal := callback_host_refused(url)):
        raise ValidationError(refusal, code="callback_url_refused")
    token.callback_url = url
    if url and not token.callback_secret:
        token.callback_secret = secrets.token_hex(32)
    token.save(update_fields=["callback_url", "callback_secret"])
    return token


def callback_arm(*, token: Any, event: str, object_id: int) -> CallbackDelivery | None:
    """Remember to notify ``token`` when ``event`` happens to ``object_id`` (nothing when it has no callback URL)."""
    if not isinstance(token, ApiToken) or not token.callback_url:
        return None
    delivery, _created = CallbackDelivery.objects.get_or_create(
        token=token, event=event, object_id=object_id, defaults={"url": token.callback_url}
    )
    return delivery


def callbacks_fire(*, event: str, object_id: int, payload: dict[str, Any]) -> int:
    """The event happened: fill in and send every armed notification of it (after commit). Returns how many."""
    ids = list(
        CallbackDelivery.objects.filter(event=event, object_id=object_id, status=CallbackStatus.WAITING).values_list(
            "pk", flat=True
        )
    )
    fired = 0
    for delivery_id in ids:
        body = {"event": event, "delivery": delivery_id, **payload}
        fired += CallbackDelivery.objects.filter(pk=delivery_id, status=CallbackStatus.WAITING).update(
            status=CallbackStatus.PENDING, payload=body, next_attempt_at=timezone.now()
        )
        transaction.on_commit(partial(_enqueue, delivery_id))
    return fired


def _enqueue(delivery_id: int, countdown: int = 0) -> None:
    from piaogen.tasks import deliver_callback  # tasks import this module

    try:
        deliver_callback.apply_async((delivery_id,), countdown=countdown)
    except Exception:  # the broker is down: the row stays pending with its next_attempt_at
        log.exception("could not enqueue callback %s", delivery_id)


def callback_attempt(*, delivery: CallbackDelivery) -> CallbackDelivery:
    """One POST of the notification if it still needs one; records the outcome, schedules a retry after a
    failure."""
    claimed = CallbackDelivery.objects.filter(
        pk=delivery.pk,
        attempts=delivery.attempts,
        attempts__lt=max_attempts(),
        status__in=[CallbackStatus.PENDING, CallbackStatus.FAILED],
    ).update(attempts=F("attempts") + 1)
    if not claimed:
        delivery.refresh_from_db()
        return delivery
    delivery.attempts += 1
    body = json.dumps(delivery.payload, cls=DjangoJSONEncoder, ensure_ascii=False).encode()
    now = int(time.time())
    request = urllib.request.Request(  # noqa: S310 — the URL is a validated http(s) URLField
        delivery.url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "piaogen-callback/1",
            "X-Piaogen-Event": delivery.event,
            "X-Piaogen-Delivery": str(delivery.pk),
            SIGNATURE_HEADER: f"t={now},v1={signature(delivery.token.callback_secret, now, body)}",
        },
    )
    status: int | None = None
    error = callback_host_refused(delivery.url)
    try:
        if not error:
            with _OPENER.open(request, timeout=TIMEOUT_SECONDS) as answer:
                status = answer.status
    except urllib.error.HTTPError as refused:
        status, error = refused.code, f"HTTP {refused.code}"
    except (OSError, ValueError) as failure:
        error = f"{type(failure).__name__}: {failure}"[:2000]
    if status is not None and 200 <= status < 300:
        CallbackDelivery.objects.filter(pk=delivery.pk).update(
            status=CallbackStatus.SENT,
            response_status=status,
            last_error="",
            sent_at=timezone.now(),
            next_attempt_at=None,
        )
    else:
        retry = delivery.attempts < max_attempts()
        countdown = retry_delay(delivery.attempts)
        CallbackDelivery.objects.filter(pk=delivery.pk).update(
            status=CallbackStatus.FAILED,
            response_status=status,
            last_error=error,
            next_attempt_at=timezone.now() + dt.timedelta(seconds=countdown) if retry else None,
        )
        log.warning("callback %s attempt %s failed: %s", delivery.pk, delivery.attempts, error)
        if retry:
            _enqueue(delivery.pk, countdown)
    delivery.refresh_from_db()
    return delivery


STALL_SECONDS = 10 * 60


def callbacks_resume_stalled() -> int:
    """Hand again to the workers the notifications whose next attempt is long overdue (their task was lost, or
    the broker was down when it was due). The attempt's claim makes a duplicate harmless."""
    overdue = timezone.now() - dt.timedelta(seconds=STALL_SECONDS)
    ids = list(
        CallbackDelivery.objects.filter(
            status__in=[CallbackStatus.PENDING, CallbackStatus.FAILED],
            next_attempt_at__lt=overdue,
            attempts__lt=max_attempts(),
        ).values_list("pk", flat=True)[:1000]  # callback_pending_idx
    )
    for delivery_id in ids:
        _enqueue(delivery_id)
    return len(ids)
