"""The eligibility statements in ``invoicing/eligibility/sql/`` are whole: each runs as it stands with its named
parameters, and the database holds the functions ``functions.sql`` defines."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from django.db import connection

from invoicing.eligibility import SQL_DIR, Reason, statement
from tests.fixtures import issuing
from tests.fixtures.issuing import TODAY, at, segment

world = issuing.world  # the fixture

FUNCTION = re.compile(r"CREATE OR REPLACE FUNCTION (\w+)\(.*?\$\$(.*?)\$\$;", re.DOTALL)

VALUES: dict[str, Any] = {
    "ids": None,
    "card_no": None,
    "date_from": None,
    "date_to": None,
    "province": None,
    "cutoff": TODAY,
    "all_rows": True,
}


def test_the_database_holds_the_functions_of_functions_sql(db: None) -> None:
    """A change to functions.sql needs a migration that runs it again: until then this fails (with --reuse-db)."""
    defined = dict(FUNCTION.findall((SQL_DIR / "functions.sql").read_text()))
    with connection.cursor() as cursor:
        cursor.execute("SELECT proname, prosrc FROM pg_proc WHERE proname = ANY(%s)", [list(defined)])
        installed = dict(cursor.fetchall())

    assert set(defined) == {
        "invoicing_buyer_at",
        "invoicing_fifo_matches",
        "invoicing_fifo_paid_by_chosen_topups",
        "invoicing_fifo_paid_by_invoiced_topups",
        "invoicing_fifo_topups_spent_on_invoiced_segments",
        "invoicing_prepaid_choice_at",
        "invoicing_rate_at",
    }
    assert installed == defined


@pytest.mark.parametrize("name", sorted(path.name for path in SQL_DIR.glob("*_states.sql")))
def test_each_state_statement_runs_as_it_stands_with_its_named_parameters(world: dict[str, Any], name: str) -> None:
    seg = segment(world, exit_time=at(2), fee=1000)
    text = (SQL_DIR / name).read_text()
    values = {**VALUES, "ids": str(seg.pk)}

    with connection.cursor() as cursor:
        cursor.execute(text, {key: values[key] for key in set(re.findall(r"%\((\w+)\)s", text))})
        columns = [column.name for column in cursor.description]
        rows = cursor.fetchall()

    assert columns[0] == "id" and columns[-1] == "blockers"
    assert all(set(row[-1]) <= set(Reason.values) for row in rows)
    assert [row[0] for row in rows] == ([seg.pk] if name == "segment_states.sql" else [])


def test_a_statement_is_bound_positionally_without_its_comments(world: dict[str, Any]) -> None:
    seg = segment(world, exit_time=at(2), fee=1000)

    sql, params = statement("segment_states.sql", **{**VALUES, "ids": str(seg.pk), "cutoff": dt.date(2026, 11, 1)})

    assert "--" not in sql and "%(" not in sql and len(params) == sql.count("%s")
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        (row,) = cursor.fetchall()
    assert row[0] == seg.pk and row[-1] == [Reason.NOT_YET.value]
