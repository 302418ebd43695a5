"""Callbacks (piaogen/callbacks.py): a token with a callback URL is told, signed, when a batch it uploaded ends;
a failed delivery is retried with backoff and every attempt is logged on its row."""

from __future__ import annotations

import datetime as dt
import http.server
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from rest_framework.test import APIClient

from piaogen import callbacks
from piaogen.callbacks import api_token_callback_set, callback_attempt, callbacks_resume_stalled, signature
from piaogen.models import ApiToken, CallbackDelivery, CallbackStatus, Role, User
from tolling.models import UploadBatch, UploadStatus
from tolling.services import upload_notify_end

pytestmark = pytest.mark.django_db

UNITS = b"toll_unit,name,province,operator_tax_id,operator_name,road_nature,tax_rate\nBAD,x,32,1,y,1,0.03\n"


class Receiver(http.server.BaseHTTPRequestHandler):
    url: str
    answers: list[int]
    received: list[tuple[dict[str, str], bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((dict(self.headers.items()), body))
        self.send_response(self.answers.pop(0) if self.answers else 204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[type[Receiver]]:
    handler: type[Receiver] = type("Handler", (Receiver,), {"answers": [], "received": []})
    server = http.server.HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    handler.url = f"http://127.0.0.1:{server.server_port}/hook"
    yield handler
    server.shutdown()


@pytest.fixture
def enqueued(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """Deliveries handed to the worker (delivery id, countdown), instead of the broker."""
    calls: list[tuple[int, int]] = []
    monkeypatch.setattr(callbacks, "_enqueue", lambda delivery_id, countdown=0: calls.append((delivery_id, countdown)))
    return calls


@pytest.fixture
def system(make_staff: Callable[..., User]) -> tuple[ApiToken, APIClient]:
    token, key = ApiToken.issue(user=make_staff(Role.PROVINCE, "32", username="jiangsu"), name="系统")
    return token, APIClient(HTTP_AUTHORIZATION=f"Bearer {key}")


def upload(client: APIClient) -> int:
    response = client.post(
        "/api/v1/uploads/", {"kind": "toll_units", "file": SimpleUploadedFile("u.csv", UNITS)}, format="multipart"
    )
    assert response.status_code == 202
    return int(response.json()["id"])


def finish(batch_id: int) -> None:
    """What the pipeline's end of a batch does (tolling.importing.batches._batch_end): a real worker runs it in
    tests/test_generated_client.py."""
    UploadBatch.objects.filter(pk=batch_id).update(status=UploadStatus.DONE, rows_total=1, rows_rejected=1)
    upload_notify_end(batch_id=batch_id)


def test_a_token_sets_its_callback_url_and_gets_a_secret(system: tuple[ApiToken, APIClient]) -> None:
    _token, client = system

    response = client.put("/api/v1/callback/", {"url": "https://example.org/hook"})

    assert response.status_code == 200
    assert response.json()["url"] == "https://example.org/hook" and len(response.json()["secret"]) == 64
    assert client.put("/api/v1/callback/", {"url": "not a url"}).json()["code"] == "invalid"


def test_a_batch_that_ends_sends_one_signed_callback(
    system: tuple[ApiToken, APIClient],
    receiver: type[Receiver],
    enqueued: list[tuple[int, int]],
    django_capture_on_commit_callbacks: Any,
) -> None:
    token, client = system
    api_token_callback_set(token=token, url=receiver.url)
    batch_id = upload(client)

    with django_capture_on_commit_callbacks(execute=True):
        finish(batch_id)
        finish(batch_id)  # a second end of the batch sends nothing new
    (delivery_id, _countdown), *more = enqueued
    delivery = callback_attempt(delivery=CallbackDelivery.objects.get(pk=delivery_id))

    assert more == []
    assert (delivery.status, delivery.attempts, delivery.response_status) == (CallbackStatus.SENT, 1, 204)
    ((headers, body),) = receiver.received
    timestamp, mac = (part.split("=", 1)[1] for part in headers["X-Piaogen-Signature"].split(","))
    token.refresh_from_db()
    assert mac == signature(token.callback_secret, int(timestamp), body)
    assert headers["X-Piaogen-Event"] == "upload.finished" and headers["X-Piaogen-Delivery"] == str(delivery_id)
    assert b'"status": "done"' in body and f'"id": {batch_id}'.encode() in body and b'"rows_rejected": 1' in body


def test_a_failed_delivery_is_retried_with_backoff_until_it_lands(
    system: tuple[ApiToken, APIClient],
    receiver: type[Receiver],
    enqueued: list[tuple[int, int]],
    django_capture_on_commit_callbacks: Any,
) -> None:
    token, client = system
    api_token_callback_set(token=token, url=receiver.url)
    receiver.answers.extend([500, 503])
    with django_capture_on_commit_callbacks(execute=True):
        finish(upload(client))
    delivery = CallbackDelivery.objects.get()

    for _ in range(3):
        delivery = callback_attempt(delivery=delivery)

    assert [countdown for _id, countdown in enqueued] == [0, 60, 120]
    assert (delivery.status, delivery.attempts, delivery.response_status) == (CallbackStatus.SENT, 3, 204)
    assert len(receiver.received) == 3


def test_a_delivery_gives_up_after_the_last_attempt(
    system: tuple[ApiToken, APIClient], enqueued: list[tuple[int, int]], settings: Any
) -> None:
    settings.PIAOGEN = {**settings.PIAOGEN, "CALLBACK_MAX_ATTEMPTS": 2}
    token, _client = system
    delivery = CallbackDelivery.objects.create(
        token=token, event="upload.finished", object_id=1, url="http://127.0.0.1:9/", status=CallbackStatus.PENDING
    )

    for _ in range(3):
        delivery = callback_attempt(delivery=delivery)

    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == (CallbackStatus.FAILED, 2, None)
    assert delivery.last_error and len(enqueued) == 1


def test_an_upload_by_a_token_without_a_callback_url_arms_nothing(system: tuple[ApiToken, APIClient]) -> None:
    upload(system[1])

    assert not CallbackDelivery.objects.exists()


def test_cancelling_a_queued_batch_ends_it_and_calls_back(
    system: tuple[ApiToken, APIClient], enqueued: list[tuple[int, int]], django_capture_on_commit_callbacks: Any
) -> None:
    token, client = system
    api_token_callback_set(token=token, url="https://example.org/hook")
    batch_id = upload(client)

    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(f"/api/v1/uploads/{batch_id}/cancel/").json()["status"] == "cancelled"

    delivery = CallbackDelivery.objects.get()
    assert [delivery_id for delivery_id, _ in enqueued] == [delivery.pk]
    assert delivery.payload["batch"]["status"] == "cancelled" and delivery.status == CallbackStatus.PENDING


def test_an_overdue_notification_is_handed_to_the_workers_again(
    system: tuple[ApiToken, APIClient], enqueued: list[tuple[int, int]]
) -> None:
    token, _client = system
    overdue, _due_now, _sent = (
        CallbackDelivery.objects.create(
            token=token,
            event="upload.finished",
            object_id=n,
            url="https://example.org/",
            status=status,
            next_attempt_at=at,
        )
        for n, status, at in (
            (1, CallbackStatus.FAILED, timezone.now() - dt.timedelta(hours=1)),
            (2, CallbackStatus.PENDING, timezone.now()),
            (3, CallbackStatus.SENT, None),
        )
    )

    assert callbacks_resume_stalled() == 1
    assert enqueued == [(overdue.pk, 0)]


def test_in_production_a_callback_to_an_internal_address_is_refused_when_set_and_when_sent(
    system: tuple[ApiToken, APIClient], enqueued: list[tuple[int, int]], settings: Any
) -> None:
    settings.PIAOGEN = {**settings.PIAOGEN, "CALLBACK_ALLOW_PRIVATE": False}
    token, client = system

    for url in ("http://127.0.0.1:6379/", "http://10.0.0.8/hook", "http://localhost/hook"):
        refused = client.put("/api/v1/callback/", {"url": url})
        assert refused.status_code == 400 and refused.json()["errors"][0]["field"] == "url", url
    delivery = CallbackDelivery.objects.create(
        token=token, event="upload.finished", object_id=1, url="http://127.0.0.1:9/", status=CallbackStatus.PENDING
    )
    delivery = callback_attempt(delivery=delivery)

    assert delivery.status == CallbackStatus.FAILED and "127.0.0.1" in delivery.last_error
    token.refresh_from_db()
    assert token.callback_url == ""


def test_a_redirect_is_a_failed_attempt_not_a_new_destination(
    system: tuple[ApiToken, APIClient], receiver: type[Receiver], enqueued: list[tuple[int, int]]
) -> None:
    token, _client = system
    api_token_callback_set(token=token, url=receiver.url)
    receiver.answers.append(302)
    delivery = CallbackDelivery.objects.create(
        token=token,
        event="upload.finished",
        object_id=1,
        url=receiver.url,
        status=CallbackStatus.PENDING,
    )

    delivery = callback_attempt(delivery=delivery)

    assert (delivery.status, delivery.response_status) == (CallbackStatus.FAILED, 302)
