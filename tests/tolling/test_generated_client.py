"""The J1 flow of a provincial system through a client generated from our published schema, unedited: upload
(multipart, Bearer token, Idempotency-Key), poll until the batch is done, read the rejected rows, fetch the error
file as CSV and XLSX, re-send a changed row (a conflict) and correct it (mode=correct), and receive the signed
callback — against a live server with a real Celery worker.

The client is generated with openapi-python-client (a dev dependency, pinned in pyproject.toml), exactly as
docs/integration.md tells a province to do it.
"""

from __future__ import annotations

import http.server
import importlib
import io
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from ingest_fixtures import VALID, csv_bytes, row, units_create

from piaogen.callbacks import signature
from piaogen.models import ApiToken, Role, User

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

PACKAGE = "piaogen_api_client"  # openapi-python-client's name for the title "Piaogen API"
POLL_DEADLINE_SECONDS = 120  # a bound on waiting, not a speed assertion


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The client package generated from the schema the server publishes, imported."""
    root = Path(tmp_path_factory.mktemp("client"))
    schema = root / "schema.json"
    call_command("spectacular", "--file", str(schema), "--format", "openapi-json")
    tool = Path(sys.executable).parent / "openapi-python-client"
    env = {**os.environ, "PATH": f"{tool.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run(
        [str(tool), "generate", "--path", str(schema), "--meta", "none", "--output-path", str(root / PACKAGE)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Warning" not in done.stdout, done.stdout  # nothing of the schema was left out of the client
    sys.path.insert(0, str(root))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(root))
        for name in [name for name in sys.modules if name.split(".")[0] == PACKAGE]:
            del sys.modules[name]


class Receiver(http.server.BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]]

    def do_POST(self) -> None:
        self.received.append((dict(self.headers.items()), self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    received: list[tuple[dict[str, str], bytes]] = []
    server = http.server.HTTPServer(("127.0.0.1", 0), type("Handler", (Receiver,), {"received": received}))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/piaogen-hook", received
    server.shutdown()


def operation(tag: str, name: str) -> Any:
    """A generated operation module: ``sync``, ``sync_detailed``… (``from piaogen_api_client.api.uploads import
    uploads_create`` in a province's code)."""
    return importlib.import_module(f"{PACKAGE}.api.{tag}.{name}")


def wait_for(check: Callable[[], Any]) -> Any:
    deadline = time.monotonic() + POLL_DEADLINE_SECONDS
    while not (answer := check()):
        assert time.monotonic() < deadline, "gave up waiting"
        time.sleep(0.3)
    return answer


def test_a_generated_client_uploads_polls_and_fetches_the_error_file(
    generated: Any,
    live_server: Any,
    celery_worker_process: Any,
    make_staff: Callable[..., User],
    receiver: tuple[str, list[tuple[dict[str, str], bytes]]],
) -> None:
    units_create()
    _token, key = ApiToken.issue(user=make_staff(Role.PROVINCE, "32", username="jiangsu"), name="江苏省级系统")
    models = importlib.import_module(f"{PACKAGE}.models")
    types = importlib.import_module(f"{PACKAGE}.types")
    client = generated.AuthenticatedClient(base_url=live_server.url, token=key)  # sends "Bearer <token>"
    hook_url, received = receiver

    hook = operation("callback", "callback_update").sync(client=client, body=models.CallbackRequest(url=hook_url))
    content = csv_bytes([VALID["segments"], row("segments", pass_id="G2", card_no="123")])
    upload = models.UploadCreateRequest(
        kind=models.UploadKindEnum.SEGMENTS,
        file=types.File(payload=io.BytesIO(content), file_name="segments.csv", mime_type="text/csv"),
    )
    queued = operation("uploads", "uploads_create").sync_detailed(
        client=client, body=upload, idempotency_key="j1-2026-12-04"
    )
    again = operation("uploads", "uploads_create").sync_detailed(
        client=client, body=upload, idempotency_key="j1-2026-12-04"
    )

    assert queued.status_code == 202 and queued.headers["location"] == f"/api/v1/uploads/{queued.parsed.id}/"
    assert again.parsed.id == queued.parsed.id  # the retried POST did not make a second batch

    def finished(batch_id: int) -> Any:
        """Poll the batch until it ends, as a province's system does."""
        retrieve = operation("uploads", "uploads_retrieve")
        return wait_for(
            lambda: (b := retrieve.sync(batch_id, client=client)).status.value not in ("queued", "running") and b
        )

    def send(segment: dict[str, str], mode: Any) -> int:
        body = models.UploadCreateRequest(
            kind=models.UploadKindEnum.SEGMENTS,
            file=types.File(payload=io.BytesIO(csv_bytes([segment])), file_name="fix.csv", mime_type="text/csv"),
            mode=mode,
        )
        answer = operation("uploads", "uploads_create").sync_detailed(client=client, body=body)
        assert answer.status_code == 202, answer.content
        return int(answer.parsed.id)

    batch = finished(queued.parsed.id)
    assert (batch.status.value, batch.rows_accepted, batch.rows_rejected) == ("done", 1, 1)

    rows = operation("uploads", "uploads_rows_retrieve").sync(batch.id, client=client)
    assert rows.count == 1 and rows.results[0].line_no == 3 and any("ETC卡号" in r for r in rows.results[0].reasons)

    errors = operation("uploads", "uploads_errors_retrieve")
    csv_file = errors.sync(batch.id, client=client)
    xlsx_file = errors.sync(batch.id, client=client, format_=models.UploadsErrorsRetrieveFormat.XLSX)
    assert "ETC卡号" in csv_file.payload.read().decode("utf-8-sig")
    assert xlsx_file.payload.read()[:2] == b"PK"

    # the province re-sends the accepted row with another amount: a conflict, never a silent duplicate …
    changed = row("segments", pay_fee="40.00", discount_fee="2.00", fee="38.00")
    conflict = finished(send(changed, models.UploadModeEnum.APPEND))
    assert (conflict.rows_conflict, conflict.rows_rejected, conflict.rows_duplicate) == (1, 1, 0)
    assert operation("uploads", "uploads_rows_retrieve").sync(conflict.id, client=client).results[0].codes == [
        "row.conflict"
    ]
    # … and sends it again as a correction, which replaces the stored row (not yet invoiced)
    corrected = finished(send(changed, models.UploadModeEnum.CORRECT))
    assert (corrected.status.value, corrected.rows_corrected, corrected.rows_rejected) == ("done", 1, 0)

    headers, body = wait_for(lambda: next((r for r in received if f'"id": {batch.id},'.encode() in r[1]), None))
    timestamp, mac = (part.split("=", 1)[1] for part in headers["X-Piaogen-Signature"].split(","))
    assert mac == signature(hook.secret, int(timestamp), body)
    notified = json.loads(body)
    assert (notified["event"], notified["batch"]["id"], notified["batch"]["status"]) == (
        "upload.finished",
        batch.id,
        "done",
    )
    assert notified["links"]["errors"] == f"/api/v1/uploads/{batch.id}/errors/"
