"""Validation as SQL: per upload kind, the column checks (shape, ranges, codes, check digits) and the cross-row
rules, each producing the error file's message and a machine-readable code (``card_no.format``,
``exit_time.before_entry``: the column, a dot, the problem; ``ROW_CODES`` lists them all for the docs)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from piaogen import identifiers as ids
from piaogen.money import MAX_YUAN_DIGITS, parse_yuan
from tolling.contract import CONTRACT, Column
from tolling.models import (
    AuditReason,
    CardType,
    PayMethod,
    PlateColor,
    RoadNature,
    UploadKind,
    VehicleClass,
)

# --- validation as SQL ---------------------------------------------------------------------------------------------


def _message(validator: Callable[..., object], bad: object, **kwargs: Any) -> str:
    """The (translated) message a validator of piaogen gives for ``bad``: one source of truth for wording."""
    try:
        validator(bad, **kwargs)
    except ValidationError as exc:
        return str(exc.messages[0])
    raise AssertionError(f"{validator.__name__} accepted {bad!r}")


def _ints(values: Any) -> str:
    return ", ".join(str(int(v)) for v in values)


def _texts(values: Any) -> str:
    return ", ".join("'" + str(v).replace("'", "''") + "'" for v in values)


def _sql_regex(pattern: str) -> str:
    """A Python fullmatch pattern of piaogen.identifiers as an anchored SQL regex literal."""
    assert "'" not in pattern
    return f"'^(?:{pattern})$'"


# PostgreSQL's regex engine is slow on bounded repetition ({1,40}: ~10 µs a row) and fast on plain classes with
# "+" (~0.3 µs): shapes are checked as "class+ and a length", the common time format by LIKE first.
TIME_RE = (
    "'^(19|20)[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[ T]([01][0-9]|2[0-3]):[0-5][0-9]"
    "(:[0-5][0-9]([.][0-9]{1,6})?)?(Z|[+-][0-9]{2}(:?[0-9]{2})?)?$'"
)
_OFFSET_RE = "'(Z|[+-][0-9]{2}(:?[0-9]{2})?)$'"
DATE_RE = "'^(19|20)[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$'"


def _shape_sql(f: str, pattern: str) -> str:
    """``f`` matches a ``[class]{n}`` / ``[class]{a,b}`` pattern of piaogen.identifiers, written the fast way."""
    match = re.fullmatch(r"(\[[^\]]+\])\{(\d+)(?:,(\d+))?\}", pattern)
    assert match is not None, pattern
    low, high = int(match[2]), int(match[3] or match[2])
    length = f"char_length({f}) = {low}" if low == high else f"char_length({f}) BETWEEN {low} AND {high}"
    return f"({f} ~ '^{match[1]}+$' AND {length})"


def _day_exists_sql(f: str) -> str:
    """The day of a well-formed ``YYYY-MM-DD…`` text exists in its month (so the cast cannot raise)."""
    return (
        f"(substr({f}, 9, 2) COLLATE \"C\" <= '28' OR substr({f}, 9, 2)::int <= extract(day FROM"
        f" make_date(substr({f}, 1, 4)::int, substr({f}, 6, 2)::int, 1) + interval '1 month' - interval '1 day'))"
    )


def _time_sql(f: str) -> str:
    """``f`` as timestamptz (Beijing when it has no offset), or NULL when it is not a valid time.

    Range comparisons say COLLATE "C": under the cluster's C.UTF-8 locale they would go through strcoll (4× slower).
    """
    canonical = (
        f"{f} LIKE '____-__-__ __:__:__' AND {f} ~ '^[0-9]+-[0-9]+-[0-9]+ [0-9]+:[0-9]+:[0-9]+$'"
        f" AND left({f}, 2) IN ('19', '20')"
        f" AND substr({f}, 6, 2) COLLATE \"C\" BETWEEN '01' AND '12'"
        f" AND substr({f}, 9, 2) COLLATE \"C\" BETWEEN '01' AND '31' AND substr({f}, 12, 2) COLLATE \"C\" <= '23'"
        f" AND substr({f}, 15, 2) COLLATE \"C\" <= '59' AND substr({f}, 18, 2) COLLATE \"C\" <= '59'"
    )
    with_offset = f"CASE WHEN {f} ~ {_OFFSET_RE} THEN {f} ELSE {f} || '+08' END"
    return (
        f"CASE WHEN {canonical} AND {_day_exists_sql(f)} THEN ({f} || '+08')::timestamptz"
        f" WHEN {f} ~ {TIME_RE} AND {_day_exists_sql(f)} THEN ({with_offset})::timestamptz END"
    )


def _yuan(f: str) -> str:
    return f"ltrim({f}, '¥￥')"


def _money_sql(f: str) -> str:
    m = _yuan(f)
    return (
        f"CASE WHEN {f} ~ '^[0-9]+[.][0-9][0-9]$' AND length({f}) <= {MAX_YUAN_DIGITS + 3}"
        f" THEN replace({f}, '.', '')::bigint"  # the usual 35.50: an int8 cast, no numeric
        f" WHEN {m} ~ '^[0-9]+([.][0-9][0-9]?)?$' AND length(split_part({m}, '.', 1)) <= {MAX_YUAN_DIGITS}"
        f" THEN round({m}::numeric * 100)::bigint END"
    )


@dataclass
class Field:
    """One column as SQL: its typed value (from the cleaned text ``f_<name>``) and its rules."""

    column: Column
    typed: str  # SQL over {f}; "{f}" for text kept as is
    rules: list[tuple[str, str, str]]  # (SQL condition over {f} and {v}, problem, code after "<column>.")
    taxpayer: bool = False  # checked in Python per distinct value

    @property
    def name(self) -> str:
        return self.column.name

    def value_sql(self, f: str) -> str:
        """The typed value of cleaned text ``f``: NULL when any rule fails, so a valid row is cheap to recognise."""
        typed = self.typed.replace("{f}", f)
        if not self.rules or all("{v}" in condition for condition, _problem, _code in self.rules):
            return typed  # NULL on failure by construction
        assert not any("{v}" in condition for condition, _problem, _code in self.rules), self.name
        failing = " OR ".join(f"({condition.replace('{f}', f)})" for condition, _problem, _code in self.rules)
        return f"CASE WHEN NOT ({failing}) THEN {typed} END"


def column_problem(column: Column, problem: str) -> str:
    return _("%(column)s：%(problem)s") % {"column": column.label, "problem": problem}


def _text(column: Column, max_length: int, *, upper: bool = False) -> Field:
    typed = "upper({f})" if upper else "{f}"
    too_long = _("不能超过%(n)s个字符") % {"n": max_length}
    return Field(column, typed, [("char_length({f}) > " + str(max_length), too_long, "too_long")])


def _pattern(column: Column, pattern: str, problem: str, *, upper: bool = False) -> Field:
    typed = "upper({f})" if upper else "{f}"
    return Field(column, typed, [(f"NOT {_shape_sql(typed, pattern)}", problem, "format")])


def _code(column: Column, allowed: Any, problem: str) -> Field:
    return Field(
        column,
        f"CASE WHEN {{f}} IN ({_texts(allowed)}) THEN {{f}}::int WHEN {{f}} ~ '^[0-9]+$' AND length({{f}}) <= 3"
        f" AND {{f}}::int IN ({_ints(allowed)}) THEN {{f}}::int END",
        [("{v} IS NULL", problem, "invalid")],
    )


def _choice(column: Column, choices: Any) -> Field:
    """A text code (``CLASS``) or its Chinese label (``车型不符``)."""
    whens = " ".join(
        f"WHEN upper({{f}}) = '{value}' OR {{f}} = '{label}' THEN '{value}'" for value, label in choices.choices
    )
    codes = "、".join(f"{value}（{label}）" for value, label in choices.choices)
    return Field(column, f"CASE {whens} END", [("{v} IS NULL", _("必须是%(codes)s之一") % {"codes": codes}, "invalid")])


def _card(column: Column) -> Field:
    return Field(
        column,
        "{f}",
        [
            (f"NOT {_shape_sql('{f}', ids.CARD_RE.pattern)}", _message(ids.validate_card_number, "x"), "length"),
            (
                f"{_shape_sql('{f}', ids.CARD_RE.pattern)} AND left({{f}}, 2) NOT IN ({_texts(ids.PROVINCE_NAMES)})",
                _message(ids.validate_card_number, "0" * 20),
                "province",
            ),
        ],
    )


def _plate(column: Column) -> Field:
    chars = _sql_regex(ids.PLATE_CHARS_RE.pattern)
    return Field(
        column,
        "upper({f})",
        [
            (f"char_length({{f}}) > {ids.PLATE_MAX_LENGTH}", _message(ids.validate_plate, "京" * 11), "too_long"),
            ("position(' ' IN {f}) > 0", _message(ids.validate_plate, "京A 1234"), "space"),
            (
                f"upper({{f}}) !~ {chars} AND position(' ' IN {{f}}) = 0",
                _message(ids.validate_plate, "京A#1234"),
                "characters",
            ),
        ],
    )


def _money(column: Column, *, positive: bool) -> Field:
    y = _yuan("{f}")
    neg = "{f} ~ '^(-[¥￥]?|[¥￥]-)[0-9]+([.][0-9]+)?$'"
    decimals = f"{y} ~ '^[0-9]+[.][0-9][0-9][0-9]+$'"
    large = f"{y} ~ '^[0-9]+([.][0-9]+)?$' AND length(split_part({y}, '.', 1)) > {MAX_YUAN_DIGITS}"
    zero = f"{y} ~ '^0+([.]0+)?$'" if positive else "false"
    rules = [
        ("{v} IS NULL AND " + neg, _message(parse_yuan, "-1"), "negative"),
        ("{v} IS NULL AND " + decimals, _message(parse_yuan, "1.234"), "decimals"),
        ("{v} IS NULL AND " + large, _message(parse_yuan, "1" * 16), "too_large"),
        ("{v} IS NULL AND " + zero, _message(parse_yuan, "0", allow_zero=False), "zero"),
        (f"{{v}} IS NULL AND NOT ({neg} OR {decimals} OR {large} OR {zero})", _message(parse_yuan, "abc"), "format"),
    ]
    typed = f"NULLIF({_money_sql('{f}')}, 0)" if positive else _money_sql("{f}")
    return Field(column, typed, rules)


def _time(column: Column) -> Field:
    problem = _("时间格式不正确：应为YYYY-MM-DD HH:MM:SS或ISO 8601，且须为有效日期时间")
    return Field(column, _time_sql("{f}"), [("{v} IS NULL", problem, "format")])


def _taxpayer(column: Column) -> Field:
    return Field(column, "upper({f})", [], taxpayer=True)


def kind_fields(kind: str) -> list[Field]:
    """The per-column rules of ``kind``."""
    c = {col.name: col for col in CONTRACT[kind]}
    plate_color = _message(ids.validate_plate_color, "8")
    vehicle_class = _message(ids.validate_vehicle_class, "5")
    toll_unit = _message(ids.validate_toll_unit, "x")
    pass_id = _message(ids.validate_pass_id, "!")
    id64 = _("最多64个字符，且不能包含空格")
    natural_key = "position(' ' IN {f}) > 0 OR char_length({f}) > 64"
    common: dict[str, Callable[[Column], Field]] = {
        "pass_id": lambda col: _pattern(col, ids.PASS_ID_RE.pattern, pass_id),
        "card_no": _card,
        "plate": _plate,
        "taxi_plate": _plate,
        "plate_color": lambda col: _code(col, PlateColor.values, plate_color),
        "vehicle_class": lambda col: _code(col, VehicleClass.values, vehicle_class),
        "toll_unit": lambda col: _pattern(col, ids.TOLL_UNIT_RE.pattern, toll_unit, upper=True),
        "card_type": lambda col: _code(col, CardType.values, _message(ids.validate_card_type, "1")),
        "entry_station": lambda col: _text(col, 100),
        "exit_station": lambda col: _text(col, 100),
        "name": lambda col: _text(col, 200),
        "operator_name": lambda col: _text(col, 200),
        "issuer_name": lambda col: _text(col, 200),
        "company_name": lambda col: _text(col, 200),
        "channel": lambda col: _text(col, 32),
        "operator_tax_id": _taxpayer,
        "issuer_tax_id": _taxpayer,
        "company_tax_id": _taxpayer,
        "reason": lambda col: _choice(col, AuditReason),
        "pay_method": lambda col: _choice(col, PayMethod),
        "province": lambda col: Field(
            col,
            "{f}",
            [(f"{{f}} NOT IN ({_texts(ids.PROVINCE_NAMES)})", _message(ids.validate_province_code, "x"), "invalid")],
        ),
        "road_nature": lambda col: _code(col, RoadNature.values, _("必须是1（经营性）或2（还贷）")),
        "tax_rate": lambda col: Field(
            col,
            "CASE WHEN {f} ~ '^0?[.]0[359]0*$' THEN {f}::numeric(4,3) END",
            [("{v} IS NULL", _("必须是0.03、0.05或0.09"), "invalid")],
        ),
        "valid_from": lambda col: Field(
            col,
            f"CASE WHEN {{f}} ~ {DATE_RE} AND {_day_exists_sql('{f}')} THEN {{f}}::date END",
            [("{v} IS NULL", _("日期格式不正确：应为YYYY-MM-DD"), "format")],
        ),
        "segment_no": lambda col: Field(
            col,
            "CASE WHEN {f} ~ '^[0-9]+$' AND length({f}) <= 5 AND {f}::int BETWEEN 1 AND 32767 THEN {f}::int END",
            [("{v} IS NULL", _("必须是1到32767之间的整数"), "range")],
        ),
        "distance_km": lambda col: Field(
            col,
            "CASE WHEN {f} ~ '^[0-9]+([.][0-9][0-9]?[0-9]?)?$' AND length(split_part({f}, '.', 1)) <= 6"
            " THEN round({f}::numeric * 1000)::int END",
            [("{v} IS NULL", _("必须是不小于0的数字，最多三位小数"), "format")],
        ),
    }
    for name in ("topup_id", "charge_id", "ticket_no", "ride_id"):
        common[name] = lambda col: Field(col, "{f}", [(natural_key, id64, "format")])
    for name in ("entry_time", "exit_time", "topped_up_at", "paid_at", "start_time", "end_time"):
        common[name] = _time
    money_positive = kind != UploadKind.SEGMENTS
    for name in ("pay_fee", "discount_fee", "fee", "amount"):
        common[name] = lambda col: _money(col, positive=money_positive)
    return [common[name](col) for name, col in c.items()]


def cross_joins(kind: str) -> list[str]:
    """The tables `cross_rules` of ``kind`` read, joined to the checked rows ``t`` (toll units are joined by the
    loader for every kind that has the column)."""
    if kind == UploadKind.TOPUPS:
        return ["LEFT JOIN tolling_card card ON card.card_no = t.v_card_no"]  # card_no_uniq
    return []


def cross_rules(kind: str, province: str) -> list[tuple[str, str, str]]:
    """Rules across columns and against the database (toll units, province scope), as (SQL, reason, code)."""
    c = {col.name: col for col in CONTRACT[kind]}
    rules: list[tuple[str, str, str]] = []
    if "toll_unit" in c and kind != UploadKind.TOLL_UNITS:
        rules.append(
            (
                f"{_shape_sql('t.v_toll_unit', ids.TOLL_UNIT_RE.pattern)}"
                f" AND (tu.id IS NULL OR tu.province <> '{province}')",
                column_problem(c["toll_unit"], _("收费单元不存在或不属于本省")),
                "toll_unit.unknown",
            )
        )
    future = _("不能晚于当前时间")
    if kind == UploadKind.SEGMENTS:
        rules += [
            (
                "t.v_exit_time < t.v_entry_time",
                column_problem(c["exit_time"], _("出口时间早于入口时间")),
                "exit_time.before_entry",
            ),
            ("t.v_exit_time > now()", column_problem(c["exit_time"], future), "exit_time.future"),
            (
                "t.v_fee <> t.v_pay_fee - t.v_discount_fee",
                column_problem(c["fee"], _("实收金额必须等于应收金额减优惠金额")),
                "fee.mismatch",
            ),
        ]
    elif kind == UploadKind.TOPUPS:
        rules += [
            ("t.v_topped_up_at > now()", column_problem(c["topped_up_at"], future), "topped_up_at.future"),
            (
                f"{_shape_sql('t.v_card_no', ids.CARD_RE.pattern)} AND left(t.v_card_no, 2) <> '{province}'",
                column_problem(
                    c["card_no"], _("卡号的发行省份（前两位）必须是本省（%(province)s）") % {"province": province}
                ),
                "card_no.other_province",
            ),
            # only a prepaid card (储值卡) is topped up (product.md §2); a card not registered yet is let through,
            # since the contract carries no card type. Own-province cards only: no inference about other provinces.
            (
                f"card.card_type = {int(CardType.POST_PAY)} AND left(t.v_card_no, 2) = '{province}'",
                column_problem(c["card_no"], _("该卡是记账卡（23），记账卡不能充值，只有储值卡（22）才有充值记录")),
                "card_no.post_pay",
            ),
        ]
    elif kind == UploadKind.AUDIT_CHARGES:
        rules.append(("t.v_paid_at > now()", column_problem(c["paid_at"], future), "paid_at.future"))
    elif kind == UploadKind.PAPER_TICKETS:
        rules.append(("t.v_exit_time > now()", column_problem(c["exit_time"], future), "exit_time.future"))
    elif kind == UploadKind.TAXI_RIDES:
        rules += [
            (
                "t.v_end_time < t.v_start_time",
                column_problem(c["end_time"], _("下车时间早于上车时间")),
                "end_time.before_start",
            ),
            ("t.v_end_time > now()", column_problem(c["end_time"], future), "end_time.future"),
        ]
    elif kind == UploadKind.TOLL_UNITS:
        rules += [
            (
                f"t.v_province IN ({_texts(ids.PROVINCE_NAMES)}) AND t.v_province <> '{province}'",
                column_problem(c["province"], _("必须是上传者所在省份（%(province)s）") % {"province": province}),
                "province.not_uploader",
            ),
            # the code carries its province in characters 6–7 (路线编号 + 省份代码 + …); one reason for a code of
            # another province whether or not it exists there: no inference across provinces (issue #18)
            (
                f"{_shape_sql('t.v_toll_unit', ids.TOLL_UNIT_RE.pattern)}"
                f" AND (substr(t.v_toll_unit, 6, 2) <> '{province}'"
                f" OR (tu.id IS NOT NULL AND tu.province <> '{province}'))",
                column_problem(
                    c["toll_unit"],
                    _("编号第6–7位须为本省代码（%(province)s），即本省的收费单元") % {"province": province},
                ),
                "toll_unit.other_province",
            ),
            (
                "t.v_road_nature = 1 AND t.f_tax_rate IS NULL",
                column_problem(c["tax_rate"], _("经营性路段必须填写税率")),
                "tax_rate.required",
            ),
            (
                "t.v_road_nature = 2 AND t.f_tax_rate IS NOT NULL",
                column_problem(c["tax_rate"], _("还贷路段不填税率")),
                "tax_rate.not_allowed",
            ),
        ]
    return rules


ROW_CODE_RE = re.compile(r"[a-z_]+\.[a-z_]+")
"""What a row code looks like: ``<column or "row">.<problem>`` (they are inlined in SQL as literals)."""


def row_codes() -> list[tuple[str, str]]:
    """Every row code with an example reason, for the contract and the docs: ``[(code, reason)]``, sorted.
    ``{column}.required`` and ``{column}.taxpayer_id`` stand for every column that has them."""
    codes: dict[str, str] = {
        "row.too_many_cells": _("该行的列数多于表头"),
        "{column}.required": _("必填列为空"),
        "{column}.taxpayer_id": _("纳税人识别号无效"),
        "row.conflict": _("冲突：该主键已有不同的数据，未覆盖"),
        "row.key_taken": _("该通行标识已属于其他卡或车辆，或该主键属于其他省份"),
        "row.invoiced": _("更正的行已开具在票据中，须先红冲"),
    }
    for kind in UploadKind.values:
        for field in kind_fields(kind):
            for condition, problem, code in field.rules:
                if not condition.endswith("AND false"):  # a rule that never fires for this kind (zero amounts)
                    codes.setdefault(f"{field.name}.{code}", column_problem(field.column, problem))
        for _condition, reason, code in cross_rules(kind, "32"):
            codes.setdefault(code, reason)
    return sorted(codes.items())
