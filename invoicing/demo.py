"""The demo country's people and the whole demo seed: customers (票根 accounts), their cards, vehicles,
bindings and versioned titles, on top of tolling's country and traffic (tolling/demo.py); the demo logins.

Lives in invoicing because it writes both apps' tables (tolling ← invoicing: this app may import tolling).
"""

from __future__ import annotations

import datetime as dt
import random
import time
from typing import Any, NamedTuple

from django.apps import apps
from django.conf import settings
from django.db import connection, transaction

from invoicing.models import Customer
from piaogen.identifiers import (
    ETC_PROVINCES,
)
from piaogen.models import Role, User
from piaogen.services import staff_upsert
from tolling.demo import (  # the country and traffic generators
    COLOUR_WEIGHTS,
    COMPANY_TRADES,
    COMPANY_WORDS,
    PLACES,
    CardRef,
    Country,
    beijing_timestamp,
    beijing_today,
    build_country,
    build_facts,
    copy_rows,
    day_str,
    local_day,
    make_person_name,
    make_plate,
    make_resident_id,
    make_uscc,
    reserve_ids,
    vehicle_class_for,
    weighted_colours,
)
from tolling.models import (
    Operator,
    Segment,
)


class DemoLogin(NamedTuple):
    username: str
    password: str
    role: str
    province: str


DEMO_PASSWORD = "piaogen-demo-2026"  # noqa: S105 — published demo password, printed by `make run`


DEMO_LOGINS: tuple[DemoLogin, ...] = (
    DemoLogin("agent", DEMO_PASSWORD, Role.AGENT, ""),
    DemoLogin("jiangsu", DEMO_PASSWORD, Role.PROVINCE, "32"),
    DemoLogin("zhejiang", DEMO_PASSWORD, Role.PROVINCE, "33"),
    DemoLogin("manager", DEMO_PASSWORD, Role.MANAGER, ""),
    DemoLogin("admin", DEMO_PASSWORD, Role.MAINTAINER, ""),
)


def demo_logins_create(*, only_missing: bool = False) -> list[DemoLogin]:
    """Create (or reset) the demo staff logins; with ``only_missing``, leave existing accounts alone."""
    existing = set(
        User.objects.filter(username__in=[d.username for d in DEMO_LOGINS]).values_list("username", flat=True)
    )
    created = []
    for login in DEMO_LOGINS:
        if only_missing and login.username in existing:
            continue
        staff_upsert(username=login.username, role=login.role, province=login.province, password=login.password)
        created.append(login)
    return created


def demo_logins_table() -> str:
    """The demo logins as a plain-text table, for the terminal (seed_demo, the run script)."""
    rows = [
        ("username", "password", "role", "province"),
        *((d.username, d.password, d.role, d.province or "-") for d in DEMO_LOGINS),
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


class DemoDataExists(RuntimeError):
    """Raised by demo_seed when toll data or customers are already there (pass reset=True to wipe them)."""


def demo_data_exists() -> bool:
    return Operator.objects.exists() or Segment.objects.exists() or Customer.objects.exists()


def demo_tables() -> list[str]:
    """Every table of the tolling and invoicing apps (facts, dimensions, documents): what a reset wipes."""
    tables = []
    for label in ("tolling", "invoicing"):
        for model in apps.get_app_config(label).get_models(include_auto_created=True):
            if model._meta.managed and not model._meta.proxy:
                tables.append(model._meta.db_table)
    return tables


def demo_reset() -> None:
    """TRUNCATE the tolling and invoicing tables (and, by CASCADE, support rows that point at customers).

    Users, roles, API tokens and the audit trail are not touched. Uploaded files stay in media storage.
    """
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # deferred FK checks pending in this transaction block TRUNCATE
        cursor.execute(f"TRUNCATE {', '.join(demo_tables())} RESTART IDENTITY CASCADE")


def _build_people(
    rng: random.Random, cursor: Any, country: Country, customers: int, today: dt.date
) -> tuple[list[CardRef], dict[str, int]]:
    """Customers, their cards, vehicles, bindings and title versions, plus some cards nobody has bound."""
    provinces = sorted(ETC_PROVINCES)
    colours = weighted_colours()
    forced = [c for c, _ in COLOUR_WEIGHTS]  # the first vehicles get every colour once
    now_s = local_day(today) * 86_400
    phones: set[str] = set()
    plates: set[tuple[str, int]] = set()

    def phone() -> str:
        while True:
            number = rng.choice(("13", "15", "17", "18", "19")) + f"{rng.randrange(10**9):09d}"
            if number not in phones:
                phones.add(number)
                return number

    customer_rows: list[list[str]] = []
    signed_up: list[int] = []  # each customer's registration time (Beijing local seconds)
    holders: list[tuple[int | None, str, str, str, str, str, int]] = []  # customer idx, name, id type/no, phone…
    for i in range(customers):
        p = rng.choice(provinces)
        created_s = now_s - rng.randint(90, 1000) * 86_400 + rng.randrange(86_400)
        signed_up.append(created_s)
        if rng.random() < 0.15:
            city = rng.choice(PLACES[p])
            name = f"{city}{rng.choice(COMPANY_WORDS)}{rng.choice(COMPANY_TRADES)}有限公司"
            tax_id = make_uscc(rng, division=f"{p}{rng.randint(1, 9):02d}00")
            tel = phone()
            cycle = "monthly" if i % 3 == 0 else "daily"  # a third of companies merge their trips monthly
            customer_rows.append(
                [
                    "company",
                    name,
                    tel,
                    f"fp{tel[-6:]}@{settings.PIAOGEN['DEMO_EMAIL_DOMAIN']}",
                    "统一社会信用代码",
                    tax_id,
                    p,
                    beijing_timestamp(created_s),
                    cycle,
                ]
            )
            for _ in range(rng.randint(2, 8)):
                holders.append((i, name, "统一社会信用代码", tax_id, tel, p, 23))
        else:
            name = make_person_name(rng)
            id_no = make_resident_id(rng, province=p)
            tel = phone()
            email = f"u{tel[-8:]}@{settings.PIAOGEN['DEMO_EMAIL_DOMAIN']}" if rng.random() < 0.7 else ""
            customer_rows.append(
                ["person", name, tel, email, "身份证", id_no, p, beijing_timestamp(created_s), "daily"]
            )
            for _ in range(rng.choice((1, 1, 1, 1, 1, 1, 1, 2, 2, 3))):
                holders.append((i, name, "身份证", id_no, tel, p, 22 if rng.random() < 0.4 else 23))
    for _ in range(max(3, len(holders) // 5)):  # cards whose holders never signed up
        p = rng.choice(provinces)
        holders.append(
            (None, make_person_name(rng), "身份证", make_resident_id(rng, province=p), phone(), p, rng.choice((22, 23)))
        )

    customer_ids = reserve_ids(cursor, "invoicing_customer", len(customer_rows))
    copy_rows(
        cursor,
        "invoicing_customer",
        ["id", "kind", "name", "phone", "email", "id_type", "id_no", "province", "created_at", "invoice_cycle"],
        ([cid, *row] for cid, row in zip(customer_ids, customer_rows, strict=True)),
    )

    vehicle_ids = reserve_ids(cursor, "tolling_vehicle", len(holders))
    vehicles: list[tuple[int, str, int, int]] = []
    cards: list[CardRef] = []
    card_rows: list[tuple[object, ...]] = []
    bindings: list[tuple[int, str, str, str | None]] = []
    choices: list[tuple[str, str, str, int, str, str]] = []  # prepaid cards' invoicing choice (§4.12)
    serial: dict[str, int] = {}
    for n, (cust, name, id_type, id_no, tel, p, ctype) in enumerate(holders):
        company = id_type != "身份证"
        while True:
            colour = forced[n] if n < len(forced) else (1 if company and rng.random() < 0.7 else rng.choice(colours))
            province = "44" if colour == 2 else p
            plate = make_plate(rng, province=province, colour=colour, trailer=colour == 1 and rng.random() < 0.12)
            if (plate, colour) not in plates:
                plates.add((plate, colour))
                break
        vclass = vehicle_class_for(rng, colour)
        vehicles.append((vehicle_ids[n], plate, colour, vclass))
        serial[province] = serial.get(province, 0) + 1
        issued_s = now_s - rng.randint(100, 2500) * 86_400 + rng.randrange(86_400)
        card_no = f"{province}01{day_str(issued_s // 86_400)[2:4]}{ctype}{serial[province]:012d}"
        issuer = country.issuers[province]
        card_rows.append(
            (
                card_no,
                ctype,
                province,
                issuer.pk,
                vehicle_ids[n],
                name,
                id_type,
                id_no,
                tel,
                beijing_timestamp(issued_s),
                beijing_timestamp(issued_s),
            )
        )
        cards.append(CardRef(card_no, ctype, plate, colour, vclass, province))
        if cust is not None and rng.random() < 0.92:  # most cards of customers are bound
            bound_s = max(issued_s, signed_up[cust], now_s - rng.randint(70, 900) * 86_400) + rng.randrange(3600)
            if rng.random() < 0.04 and cust > 0:  # an earlier owner had it bound, then unbound it
                bindings.append(
                    (
                        customer_ids[cust - 1],
                        card_no,
                        beijing_timestamp(bound_s - 400 * 86_400),
                        beijing_timestamp(bound_s - 86_400),
                    )
                )
            bindings.append((customer_ids[cust], card_no, beijing_timestamp(bound_s), None))
            if ctype == 22 and int(card_no[-1]) % 2 == 0:  # half the prepaid cards chose "at top-up" (no rng draw)
                choices.append(
                    (
                        card_no,
                        "topup",
                        beijing_timestamp(bound_s),
                        customer_ids[cust],
                        "演示数据",
                        beijing_timestamp(bound_s),
                    )
                )
    copy_rows(cursor, "tolling_vehicle", ["id", "plate", "plate_color", "vehicle_class"], vehicles)
    copy_rows(
        cursor,
        "tolling_card",
        [
            "card_no",
            "card_type",
            "province",
            "issuer_id",
            "vehicle_id",
            "holder_name",
            "holder_id_type",
            "holder_id_no",
            "holder_phone",
            "issued_at",
            "created_at",
        ],
        card_rows,
    )
    copy_rows(cursor, "invoicing_cardbinding", ["customer_id", "card_no", "bound_at", "unbound_at"], bindings)
    copy_rows(
        cursor,
        "invoicing_cardprepaidchoice",
        ["card_no", "choice", "valid_from", "customer_id", "reason", "created_at"],
        choices,
    )

    titles = []
    cards_of: dict[int, list[str]] = {}
    for (cust, *_rest), card in zip(holders, cards, strict=True):
        if cust is not None:
            cards_of.setdefault(cust, []).append(card.card_no)
    for i, (kind, name, _tel, email, _id_type, id_no, p, created, _cycle) in enumerate(customer_rows):
        cid = customer_ids[i]
        tax_id = id_no if kind == "company" else ""
        titles.append((cid, "", kind, name, tax_id, "", "", email, created))
        versions = rng.choice((0, 0, 0, 0, 0, 0, 1, 1, 2))
        base_s = now_s - rng.randint(35, 58) * 86_400
        for v in range(versions):  # later versions, inside the trip window: a company title, a corrected name
            valid_s = base_s + v * rng.randint(7, 15) * 86_400 + rng.randrange(3600)
            employer = f"{rng.choice(PLACES[p])}{rng.choice(COMPANY_WORDS)}{rng.choice(COMPANY_TRADES)}有限公司"
            titles.append(
                (
                    cid,
                    "",
                    "company",
                    employer if kind == "person" else name,
                    make_uscc(rng, division=f"{p}{rng.randint(1, 9):02d}00") if kind == "person" else tax_id,
                    f"{rng.choice(PLACES[p])}人民路{rng.randint(1, 300)}号 {rng.randint(10**7, 10**8 - 1)}",
                    "",
                    email,
                    beijing_timestamp(valid_s),
                )
            )
        if kind == "company" and cards_of.get(i) and rng.random() < 0.5:  # a card-specific title (a branch)
            branch = f"{name.removesuffix('有限公司')}{rng.choice(PLACES[p])}分公司"
            titles.append(
                (cid, cards_of[i][0], "company", branch, make_uscc(rng, division=f"{p}0100"), "", "", email, created)
            )
    copy_rows(
        cursor,
        "invoicing_buyertitle",
        [
            "customer_id",
            "card_no",
            "kind",
            "name",
            "tax_id",
            "address_phone",
            "bank_account",
            "email",
            "valid_from",
            "created_at",
        ],
        ((*t, t[-1]) for t in titles),
    )
    counts = {
        "customers": len(customer_rows),
        "vehicles": len(vehicles),
        "cards": len(card_rows),
        "card_bindings": len(bindings),
        "prepaid_choices": len(choices),
        "buyer_titles": len(titles),
    }
    return cards, counts


@transaction.atomic
def demo_seed(
    *, segments: int = 20_000, seed: int = 2026, reset: bool = False, today: dt.date | None = None
) -> dict[str, int]:
    """Build the demo country and ``segments`` segments of traffic on it; returns the row count per table.

    Refuses (DemoDataExists) when toll data or customers exist, unless ``reset`` wipes the tolling and invoicing
    tables first. The same seed and day give the same rows (and, after a reset, the same ids).
    """
    if segments < 1:
        raise ValueError("segments must be at least 1")
    if reset:
        demo_reset()
    elif demo_data_exists():
        raise DemoDataExists("toll data or customers already exist; pass reset=True to wipe them first")
    today = today or beijing_today()
    rng = random.Random(seed)  # noqa: S311 — demo data, not secrets
    country, counts = build_country(rng, today)
    with connection.cursor() as wrapper:
        cursor = wrapper.cursor  # the raw psycopg 3 cursor, for COPY
        cards, people = _build_people(rng, cursor, country, max(20, segments // 20), today)
        counts |= people
        counts |= build_facts(rng, cursor, country, cards, segments, seed, today)
        for table in ("tolling_segment", "tolling_trip", "tolling_card", "invoicing_customer", "invoicing_buyertitle"):
            cursor.execute(f"ANALYZE {table}")
    return counts


def demo_seed_timed(**kwargs: Any) -> tuple[dict[str, int], float]:
    """demo_seed and its wall time in seconds (for the command and the benchmarks)."""
    started = time.perf_counter()
    counts = demo_seed(**kwargs)
    return counts, time.perf_counter() - started
