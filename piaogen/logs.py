"""Logs carry no personal data: a search for a phone or ID number is a GET (``/search/?q=…``,
``/api/v1/customers/?phone=…``), and access logs would keep the full number for months.

Every log line passes through `redact`, by the masking rule of ``piaogen.privacy``:

- in a query string (a request line, a path, a referer), a value named like personal data (``phone``, ``id_no``,
  ``email``… — ``piaogen.privacy.PII_KEYS``) is masked by its kind; any other value (``q`` of the search box) that
  is a phone, a resident ID number or an e-mail address once decoded, full-width folded and stripped of spaces
  and dashes, is masked as one;
- anywhere in the text, a phone, a resident ID number or an e-mail address is masked.

Two doors: `RedactPiiFilter` on the console handler (Django's request and server logs and every other logger,
``settings.LOGGING``), and `GunicornLogger`, gunicorn's ``logger_class`` (gunicorn.conf.py), which redacts every
atom of the access log (request line, query string, path, referer, headers) before the format is applied.
tests/piaogen/test_logs.py proves both.
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import quote, unquote_plus

from gunicorn.glogging import Logger

from piaogen.identifiers import fold_fullwidth

_PHONE_VALUE = re.compile(r"(?:\+?86)?1[3-9][0-9]{9}")
_ID_VALUE = re.compile(r"[0-9]{6}(?:19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])[0-9]{3}[0-9Xx]")
_EMAIL_VALUE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_QUERY_PAIR = re.compile(r"(?P<lead>[?&]|^)(?P<key>[^=&?#\s\"]+)=(?P<value>[^&#\s\"]*)")


def _masked_value(key: str, raw: str) -> str | None:
    """The masked form of one query value, or None when it is not personal data."""
    from piaogen.privacy import PII_KEYS, Pii, shown  # serializers load after settings: not at logging setup

    value = fold_fullwidth(unquote_plus(raw)).strip()
    compact = re.sub(r"[\s-]", "", value)
    kind = PII_KEYS.get(key.lower())
    if kind is None:
        if _PHONE_VALUE.fullmatch(compact):
            kind = Pii.PHONE
        elif _ID_VALUE.fullmatch(compact):
            kind = Pii.ID_NO
        elif _EMAIL_VALUE.fullmatch(value):
            kind = Pii.EMAIL
        else:
            return None
    return quote(shown(kind, compact if kind in (Pii.PHONE, Pii.ID_NO) else value), safe="*@")


def _redact_query(text: str) -> str:
    def one(match: re.Match[str]) -> str:
        masked = _masked_value(match["key"], match["value"])
        return match.group() if masked is None else f"{match['lead']}{match['key']}={masked}"

    return _QUERY_PAIR.sub(one, text)


def redact(text: str) -> str:
    """A log text with every phone, resident ID number and e-mail address masked (query strings decoded first)."""
    from piaogen.privacy import mask_text

    if "=" in text:
        text = " ".join(_redact_query(part) if "=" in part else part for part in text.split(" "))
    return mask_text(text)


class RedactPiiFilter(logging.Filter):
    """On a handler: the record's message redacted (its arguments merged in first)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


class GunicornLogger(Logger):
    """gunicorn's logger with every access-log atom redacted (``logger_class`` in gunicorn.conf.py)."""

    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        return {key: redact(value) if isinstance(value, str) else value for key, value in atoms.items()}
