"""The OpenAPI schema (served at /api/schema/) generates cleanly and is one a client generator can use: valid under
an independent validator, an ASCII title, one request content type per operation, every error status with its
body, downloads described as binary, the bearer token scheme."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from django.core.management import call_command
from openapi_spec_validator import validate

ERROR_STATUSES = {"400", "401", "403", "404", "429"}


@pytest.fixture(scope="module")
def schema(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    target = Path(tmp_path_factory.mktemp("schema")) / "schema.yaml"
    call_command("spectacular", "--file", str(target), "--validate", "--fail-on-warn")
    loaded: dict[str, Any] = yaml.safe_load(target.read_text())
    return loaded


def operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in ("get", "post", "put", "patch", "delete")
    ]


def test_the_openapi_schema_generates_without_warnings_and_validates(schema: dict[str, Any]) -> None:
    validate(schema)  # openapi-spec-validator: not drf-spectacular's own check

    for path in ("/api/v1/uploads/", "/api/v1/documents/", "/api/v1/invoice-requests/", "/api/v1/contract/"):
        assert path in schema["paths"]


def test_the_title_and_operation_ids_are_stable_ascii(schema: dict[str, Any]) -> None:
    ids = [operation["operationId"] for _method, _path, operation in operations(schema)]

    assert schema["info"]["title"] == "Piaogen API"
    assert len(ids) == len(set(ids)) and all(i.isascii() and i.isidentifier() for i in ids)
    assert {"uploads_create", "uploads_retrieve", "uploads_errors_retrieve", "uploads_rows_retrieve"} <= set(ids)


def test_every_request_body_has_one_content_type_multipart_for_uploads_json_for_commands(
    schema: dict[str, Any],
) -> None:
    bodies = {
        (method, path): list(operation["requestBody"]["content"])
        for method, path, operation in operations(schema)
        if "requestBody" in operation
    }

    assert bodies[("post", "/api/v1/uploads/")] == ["multipart/form-data"]
    assert bodies[("post", "/api/v1/invoice-requests/")] == ["application/json"]
    assert all(len(types) == 1 for types in bodies.values()), bodies


def test_every_operation_documents_its_errors_with_the_error_body(schema: dict[str, Any]) -> None:
    for method, path, operation in operations(schema):
        responses = operation["responses"]
        assert set(responses) >= ERROR_STATUSES, (method, path)
        for status in ERROR_STATUSES:  # the Error body, or a command's own with code and detail besides
            body = responses[status]["content"]["application/json"]["schema"]
            component = schema["components"]["schemas"][body["$ref"].rsplit("/", 1)[1]]
            assert {"code", "detail"} <= set(component["properties"]), (method, path, status)
    upload = schema["paths"]["/api/v1/uploads/"]["post"]["responses"]
    assert {"413", "415"} <= set(upload)
    assert schema["components"]["schemas"]["Error"]["required"] == ["code", "detail"]


def test_downloads_are_binary_and_the_token_is_a_bearer_token(schema: dict[str, Any]) -> None:
    for path in ("/api/v1/uploads/{id}/errors/", "/api/v1/documents/{id}/pdf/", "/api/v1/summary-sheets/{id}/pdf/"):
        content = schema["paths"][path]["get"]["responses"]["200"]["content"]
        assert next(iter(content)) == "application/octet-stream", path
        assert all(media["schema"] == {"type": "string", "format": "binary"} for media in content.values())
    assert "application/pdf" in schema["paths"]["/api/v1/documents/{id}/pdf/"]["get"]["responses"]["200"]["content"]
    assert schema["components"]["securitySchemes"]["tokenAuth"]["scheme"] == "bearer"
