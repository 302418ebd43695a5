"""Logs carry no personal data (issue #18: full phone and ID searches landed in access logs, the search being a GET):
gunicorn's access log (the logger class and format of gunicorn.conf.py) and every line of Django's logging (request
and server logs included) mask phones, resident ID numbers and e-mail addresses, in query strings and elsewhere."""

from __future__ import annotations

import datetime as dt
import io
import logging
import runpy
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import quote

import pytest
from django.conf import settings
from gunicorn.config import Config

from piaogen.logs import GunicornLogger, RedactPiiFilter, redact

PHONE, ID_NO, EMAIL = "13912345678", "110101199003071234", "zhangsan@example.com"
SECRETS = (PHONE, ID_NO, "zhangsan", "1234 5678")
FULL_WIDTH_PHONE = quote("１３９１２３４５６７８")  # as a browser sends what an agent pasted from a Chinese document


@pytest.mark.parametrize(
    ("line", "masked"),
    [
        (f"GET /search/?q={PHONE} HTTP/1.1", "/search/?q=139****5678"),
        (f"GET /search/?q={ID_NO}&all=1 HTTP/1.1", "/search/?q=110101********1234&all=1"),
        ("GET /api/v1/customers/?phone=139%201234%205678 HTTP/1.1", "?phone=139****5678"),
        ("GET /api/v1/customers/?id_no=110101199003071234&kind=person HTTP/1.1", "?id_no=110101********1234&kind"),
        ("GET /search/?q=zhangsan%40example.com HTTP/1.1", "?q=z*******@example.com"),
        (f"GET /search/?q={FULL_WIDTH_PHONE} HTTP/1.1", "?q=139****5678"),
        (f"Not Found: /customers/{PHONE}/", "/customers/139****5678/"),
        (f"sent to {EMAIL}", "sent to z*******@example.com"),
    ],
)
def test_a_log_line_is_redacted_wherever_the_personal_data_sits(line: str, masked: str) -> None:
    redacted = redact(line)

    assert masked in redacted
    assert [secret for secret in SECRETS if secret in redacted] == []


def test_identifiers_that_are_not_personal_stay_readable() -> None:
    line = "GET /search/?q=32010000000000000003&plate=%E8%8B%8FA12345 HTTP/1.1 26321000000000000010 PINVOICED01"

    assert redact(line) == line  # a card number, a plate, an invoice number, a pass id


def _gunicorn_access_line(path: str, query: str, referer: str) -> str:
    conf = runpy.run_path(str(Path(settings.BASE_DIR) / "gunicorn.conf.py"))
    cfg = Config()
    for name in ("logger_class", "access_log_format", "accesslog"):
        cfg.set(name, conf[name])
    logger = cfg.logger_class(cfg)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger.access_log.addHandler(handler)
    try:
        environ = {
            "REQUEST_METHOD": "GET",
            "RAW_URI": f"{path}?{query}",
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "10.0.0.1",
            "HTTP_REFERER": referer,
            "HTTP_USER_AGENT": "test",
        }
        response = SimpleNamespace(status="200 OK", headers=[], sent=512)
        request = SimpleNamespace(headers=[("REFERER", referer)])
        logger.access(response, request, environ, dt.timedelta(milliseconds=12))
    finally:
        logger.access_log.removeHandler(handler)
    return stream.getvalue()


def test_gunicorn_logs_a_phone_search_without_the_phone() -> None:
    line = _gunicorn_access_line("/search/", f"q={PHONE}", f"https://console.example/search/?q={ID_NO}")

    assert "GET /search/?q=139****5678 HTTP/1.1" in line and "q=110101********1234" in line
    assert [secret for secret in SECRETS if secret in line] == []


def test_gunicorn_conf_names_the_redacting_logger() -> None:
    conf = runpy.run_path(str(Path(settings.BASE_DIR) / "gunicorn.conf.py"))

    assert conf["logger_class"] == "piaogen.logs.GunicornLogger"
    assert Config().logger_class is not GunicornLogger  # gunicorn's own would log the number in full


@pytest.mark.parametrize("name", ["django.request", "django.server", "piaogen"])
def test_django_logs_go_through_the_redacting_handler(name: str) -> None:
    handler = next(h for h in logging.getLogger().handlers if any(isinstance(f, RedactPiiFilter) for f in h.filters))
    stream = io.StringIO()
    previous = handler.setStream(stream)  # type: ignore[attr-defined]
    try:
        logger = logging.getLogger(name)
        logger.warning('"GET /api/v1/customers/?phone=%s HTTP/1.1" 200', PHONE)
        logger.warning("Not Found: %s", f"/search/{ID_NO}/")
    finally:
        handler.setStream(previous)  # type: ignore[attr-defined]

    written = stream.getvalue()
    assert "phone=139****5678" in written and "110101********1234" in written
    assert PHONE not in written and ID_NO not in written


def test_celery_workers_keep_the_redacting_handler() -> None:
    """A worker that hijacked the root logger would log task messages (a mail server's refusal…) unredacted."""
    from piaogen.celery import app

    assert app.conf.worker_hijack_root_logger is False
