"""The access table rows for the reports app's URLs (merged into `test_url_access.EXPECTED`), and the objects of
province 32 behind its id-taking URLs (created with the same id as the upload batch, document and sheet)."""

from __future__ import annotations

from url_access_table import ANON, NO_ROLE, STAFF, everyone, staff_only  # noqa: F401  (the rows use them)

from piaogen.models import User

# url name → role → expected status for a GET
EXPECTED: dict[str, dict[str, int]] = {}


def create_objects(pk: int, uploader: User) -> None:
    """Objects of province 32 with id `pk` for this app's id-taking URLs."""
