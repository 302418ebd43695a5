"""The OpenAPI schema (served at /api/schema/) generates cleanly: no errors, no warnings, valid OpenAPI."""

from __future__ import annotations

from pathlib import Path

from django.core.management import call_command


def test_the_openapi_schema_generates_without_warnings_and_validates(tmp_path: Path) -> None:
    target = tmp_path / "schema.yaml"

    call_command("spectacular", "--file", str(target), "--validate", "--fail-on-warn")

    schema = target.read_text()
    for path in ("/api/v1/uploads/", "/api/v1/documents/", "/api/v1/invoice-requests/"):
        assert path in schema
