"""The access table rows for the query statistics' URLs (support/stats/; merged into `test_url_access.EXPECTED`):
agents, province staff (their province only), managers and maintainers read them."""

from __future__ import annotations

from url_access_table import STAFF, staff_only

EXPECTED: dict[str, dict[str, int]] = {
    "stats": staff_only(allowed=STAFF),
    "stats-export": staff_only(allowed=STAFF),
    "stats-rows": staff_only(allowed=STAFF),
    "stats-rows-export": staff_only(allowed=STAFF),
    "api-statistics": staff_only(allowed=STAFF, anon=401),
}
