"""Validation vectorised in the worker (polars): the rows of a chunk that are **certainly valid**, typed, without
PostgreSQL's per-row interpretation of the checking expressions (issue #15; docs/benchmarks.md § Ingest).

The SQL check (``loader.Loader._check_sql``) stays the one source of truth for reasons: this pass only recognises
rows in the common canonical shapes (``2026-11-15 08:38:20``, ``24.54``, codes as sent, an upper-case plate of the
contract's characters, a toll unit of the uploader's province) that pass every rule, and types them exactly as the
SQL would. Every other row — anything doubtful, whatever the reason — goes through the SQL check as before, so the
reasons, their order, the row codes and the error file are the SQL's by construction. The certain rows are COPYed
into the checked table with no reasons; the staging table still holds every row's cells (the error file of a
conflict found later needs them).

Rules covered, per segment column (``validation.kind_fields`` and ``cross_rules``): shapes and lengths, code lists,
card province prefixes, the toll unit's existence and province (from the units map the loader reads in the chunk's
transaction), exit not before entry, exit not after ``now`` (a time taken before the transaction begins, less
``loader.CLOCK_MARGIN``, so no later than its ``now()``), fee = pay fee − discount, and as many cells as the header.
A chunk this pass cannot read (a parse error, a kind it does not cover) is checked wholly in SQL.
"""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import polars as pl

from piaogen import identifiers as ids
from piaogen.money import MAX_YUAN_DIGITS
from tolling.models import CardType, PlateColor, UploadKind, VehicleClass
from tolling.reading import Table

# the checked table's columns a certain row fills, in this order (``loader.Loader`` COPYs them)
SEGMENT_COLUMNS = (
    "pass_id",
    "segment_no",
    "card_no",
    "card_type",
    "plate",
    "plate_color",
    "vehicle_class",
    "toll_unit",
    "entry_time",
    "exit_time",
    "entry_station",
    "exit_station",
    "pay_fee",
    "discount_fee",
    "fee",
)
# the canonical time only (the SQL's first branch); ISO 8601 with T or an offset is left to the SQL
_TIME = r"^(19|20)[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01]) ([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]$"
SLICE_ROWS = 10_000  # rows evaluated at once: bounds the memory of the intermediate columns
_MONEY = r"^[0-9]+[.][0-9][0-9]$"  # the usual 35.50 (the SQL's int8 branch); ¥, one decimal … are left to it


def supported(kind: str, table: Table) -> bool:
    """This pass covers ``kind`` for files of ``table``'s columns (every field the SQL would check)."""
    return kind == UploadKind.SEGMENTS and all(
        name in table.fields for name in SEGMENT_COLUMNS if name != "exit_station"
    )


class Precheck:
    """Splits a chunk's COPY text into the certain rows (typed, as CSV for the checked table) and the rest."""

    def __init__(self, table: Table, province: str) -> None:
        self.width = len(table.header)
        self.province = province
        self.positions = {name: table.fields.get(name) for name in SEGMENT_COLUMNS}
        self.names = ["line_no", "ncells", *(f"c{i}" for i in range(self.width))]

    def split(self, data: bytes, units: dict[str, int], now: dt.datetime) -> tuple[bytes, list[int], int] | None:
        """``(CSV of the certain rows, line numbers of the others, number of certain rows)``, or None when the chunk
        cannot be read here. ``units``: toll unit code → id of the uploader's province; ``now``: Beijing wall time
        (naive), no later than the transaction's ``now()``."""
        try:
            frame = pl.read_csv(
                data,
                has_header=False,
                infer_schema=False,
                new_columns=self.names,
                quote_char='"',
            )
        except pl.exceptions.PolarsError:  # any shape polars cannot read: the SQL checks the whole chunk
            return None
        if frame.width != len(self.names):
            return None
        certain, doubtful, count = io.BytesIO(), [], 0
        for part in frame.iter_slices(SLICE_ROWS):  # the expressions' intermediate columns stay small
            part_doubtful, part_count = self._split(part, units, now, certain)
            doubtful += part_doubtful
            count += part_count
        return certain.getvalue(), doubtful, count

    def _cell(self, name: str) -> pl.Expr:
        position = self.positions[name]
        return pl.lit(None, dtype=pl.String) if position is None else pl.col(f"c{position}")

    def _split(
        self, frame: pl.DataFrame, units: dict[str, int], now: dt.datetime, out: io.BytesIO
    ) -> tuple[list[int], int]:
        cell = self._cell
        provinces = list(ids.PROVINCE_NAMES)

        def code(name: str, allowed: Any) -> tuple[pl.Expr, pl.Expr]:
            return cell(name).is_in([str(v) for v in allowed]), cell(name).cast(pl.Int32, strict=False)

        def money(name: str) -> tuple[pl.Expr, pl.Expr]:
            ok = cell(name).str.contains(_MONEY) & (cell(name).str.len_bytes() <= MAX_YUAN_DIGITS + 3)
            return ok, cell(name).str.replace(".", "", literal=True).cast(pl.Int64, strict=False)

        def time(name: str) -> tuple[pl.Expr, pl.Expr]:
            parsed = cell(name).str.strptime(pl.Datetime("us"), "%Y-%m-%d %H:%M:%S", strict=False)
            return cell(name).str.contains(_TIME) & parsed.is_not_null(), parsed

        card_type_ok, card_type = code("card_type", CardType.values)
        plate_color_ok, plate_color = code("plate_color", PlateColor.values)
        vehicle_class_ok, vehicle_class = code("vehicle_class", VehicleClass.values)
        pay_ok, pay = money("pay_fee")
        discount_ok, discount = money("discount_fee")
        fee_ok, fee = money("fee")
        entry_ok, entry = time("entry_time")
        exit_ok, exit_ = time("exit_time")
        segment_no = cell("segment_no").cast(pl.Int32, strict=False)
        unit_codes = pl.Series("code", list(units), dtype=pl.String)
        certain = (
            (pl.col("ncells") == str(self.width))
            & cell("pass_id").str.contains(f"^(?:{ids.PASS_ID_RE.pattern})$")
            & cell("segment_no").str.contains(r"^[0-9]{1,5}$")
            & segment_no.is_between(1, 32767)
            & cell("card_no").str.contains(f"^(?:{ids.CARD_RE.pattern})$")
            & cell("card_no").str.slice(0, 2).is_in(provinces)
            & card_type_ok
            & cell("plate").str.contains(f"^(?:{ids.PLATE_CHARS_RE.pattern})$")
            & (cell("plate").str.len_chars() <= ids.PLATE_MAX_LENGTH)
            & plate_color_ok
            & vehicle_class_ok
            & cell("toll_unit").str.contains(f"^(?:{ids.TOLL_UNIT_RE.pattern})$")
            & cell("toll_unit").is_in(list(units))
            & entry_ok
            & exit_ok
            & (exit_ >= entry)
            & (exit_ <= now)
            & cell("entry_station").is_not_null()
            & (cell("entry_station").str.len_chars() <= 100)
            & (cell("exit_station").is_null() | (cell("exit_station").str.len_chars() <= 100))
            & pay_ok
            & discount_ok
            & fee_ok
            & (fee == pay - discount)
        ).fill_null(False)
        marked = frame.with_columns(certain.alias("certain"))
        doubtful = marked.filter(~pl.col("certain"))["line_no"].cast(pl.Int64).to_list()
        unit_ids = pl.DataFrame({"code": unit_codes, "toll_unit_id": pl.Series(list(units.values()), dtype=pl.Int64)})
        typed = (
            marked.filter(pl.col("certain"))
            .select(
                pl.col("line_no").cast(pl.Int64),
                cell("pass_id").alias("v_pass_id"),
                segment_no.alias("v_segment_no"),
                cell("card_no").alias("v_card_no"),
                card_type.alias("v_card_type"),
                cell("plate").alias("v_plate"),
                plate_color.alias("v_plate_color"),
                vehicle_class.alias("v_vehicle_class"),
                cell("toll_unit").alias("v_toll_unit"),
                (cell("entry_time") + "+08").alias("v_entry_time"),
                (cell("exit_time") + "+08").alias("v_exit_time"),
                cell("entry_station").alias("v_entry_station"),
                cell("exit_station").alias("v_exit_station"),
                pay.alias("v_pay_fee"),
                discount.alias("v_discount_fee"),
                fee.alias("v_fee"),
            )
            .join(unit_ids, left_on="v_toll_unit", right_on="code", how="left", maintain_order="left")
            .with_columns(
                pl.lit(self.province).alias("toll_unit_province"),
                pl.lit("{}").alias("reasons"),
                pl.lit("{}").alias("codes"),
            )
        )
        typed.write_csv(out, include_header=False)
        return doubtful, typed.height


CHECKED_COLUMNS = (
    "line_no",
    *(f"v_{name}" for name in SEGMENT_COLUMNS),
    "toll_unit_id",
    "toll_unit_province",
    "reasons",
    "codes",
)
"""The checked table's columns, in the order of ``Precheck.split``'s CSV."""
