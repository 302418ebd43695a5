"""Demo activity for the report templates (`manage.py seed_report_demo`, run by bin/run after `seed_demo`): the demo
country's traffic is bulk-loaded, so on its own it has no upload history, no tickets and no searches, and 上传健康度
and 客服工作量与SLA would open on zeros. This adds a few weeks of each, through the real services where there is one:

- segment files uploaded by province staff and ingested by the real pipeline (tolling.services.upload_create and
  tolling.importing.batch_process), each batch dated on one of the last days with trips of the days before it, so
  data arrives a few days late, as it does; a few rows rejected (unknown toll unit) and one file refused;
- support tickets opened by the demo agent (support.tickets.ticket_open), some closed in time, some late, some open;
- console searches of the usual kinds (no text is ever stored for a search).

Deterministic for a seed and a day. `demo_activity_exists` keeps bin/run's second start from adding more.
"""

from __future__ import annotations

import datetime as dt
import io
import random
from typing import Any

from django.db import transaction

from invoicing.demo import DEMO_LOGINS
from invoicing.models import Customer
from piaogen.models import Role, User
from reports.filters import BEIJING, beijing_today
from support.models import SearchEvent, Ticket, TicketCategory, TicketStatus
from support.recognise import Kind
from support.tickets import ticket_open, ticket_update
from tolling.demo import SEGMENT_CSV_HEADER, generate_trips, stored_cards, stored_units_by_province, trips_csv_text
from tolling.importing import batch_process
from tolling.models import UploadBatch, UploadKind
from tolling.services import upload_create

PROVINCES = 6  # provinces that upload
BATCHES = 4  # batches per province, on different days of the last fortnight
SEARCH_KINDS = (
    (Kind.PLATE, 30), (Kind.CARD, 18), (Kind.PHONE, 12), (Kind.DIGITAL_INVOICE, 10), (Kind.PASS_ID, 8),
    (Kind.NAME, 8), (Kind.PLATE_PREFIX, 5), (Kind.SUMMARY_SHEET, 4), (Kind.TAXPAYER_ID, 3), ("unrecognised", 2),
)  # fmt: skip


def demo_activity_exists() -> bool:
    return UploadBatch.objects.exists() or Ticket.objects.exists() or SearchEvent.objects.exists()


def _login(username: str) -> User:
    return User.objects.get(username=username)


def _uploader(province: str) -> User:
    for login in DEMO_LOGINS:
        if login.role == Role.PROVINCE and login.province == province:
            return _login(login.username)
    return _login(next(login.username for login in DEMO_LOGINS if login.role == Role.MAINTAINER))


def _at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=BEIJING)


def _upload(user: User, province: str, name: str, text: str, day: dt.date, hour: int) -> UploadBatch:
    batch = upload_create(
        user=user, kind=UploadKind.SEGMENTS, file=io.BytesIO(text.encode()), file_name=name, province=province
    )
    batch_process(batch_id=batch.pk)
    UploadBatch.objects.filter(pk=batch.pk).update(created_at=_at(day, hour))  # as if uploaded that morning
    return batch


def _uploads(rng: random.Random, today: dt.date) -> int:
    units = stored_units_by_province()
    cards = stored_cards()
    staffed = [login.province for login in DEMO_LOGINS if login.role == Role.PROVINCE and login.province in units]
    others = [key for key in sorted(units, key=lambda key: -len(units[key])) if key not in staffed]
    provinces = (staffed + others)[:PROVINCES]  # the demo's province logins see their own uploads
    made = 0
    for number, province in enumerate(provinces):
        user = _uploader(province)
        lag = 2 + 3 * number  # provinces differ in how late their data comes
        for k in range(BATCHES):
            day = today - dt.timedelta(days=1 + k * 4 + number % 3)
            trips = generate_trips(
                rng=rng, units_by_province={province: units[province]}, cards=cards, segments=rng.randint(150, 400),
                today=day, days=lag, pass_prefix=f"U{province}{k}",
            )  # fmt: skip
            lines = trips_csv_text(trips).splitlines(keepends=True)
            for index in rng.sample(range(len(lines)), k=min(len(lines), rng.randint(0, 6))):  # unknown toll unit
                cells = lines[index].split(",")
                cells[7] = "G9999999999999ZZ"
                lines[index] = ",".join(cells)
            name = f"segments-{province}-{day:%Y%m%d}.csv"
            _upload(user, province, name, SEGMENT_CSV_HEADER + "".join(lines), day, 8 + k)
            made += 1
    refused = provinces[-1]  # a file without its money columns: refused as a whole
    header = "pass_id,segment_no,card_no,card_type,plate,plate_color,vehicle_class,toll_unit,entry_time,exit_time\n"
    _upload(_uploader(refused), refused, "segments-missing-columns.csv", header, today - dt.timedelta(days=3), 9)
    return made + 1


def _tickets(rng: random.Random, today: dt.date) -> int:
    agent = _login(next(login.username for login in DEMO_LOGINS if login.role == Role.AGENT))
    staffed = [login.province for login in DEMO_LOGINS if login.role == Role.PROVINCE]
    anywhere = list(Customer.objects.order_by("pk").values_list("pk", flat=True)[:500])
    local = list(Customer.objects.filter(province__in=staffed).order_by("pk").values_list("pk", flat=True)[:500])
    categories = TicketCategory.values
    made = 0
    for n in range(36):
        day = today - dt.timedelta(days=rng.randint(0, 27))
        pool = local if local and n % 2 else anywhere  # half of them for the province logins' customers
        customer = Customer.objects.get(pk=rng.choice(pool)) if pool else None
        category = rng.choice(categories)
        ticket = ticket_open(
            category=category, subject=str(TicketCategory(category).label), by=agent, customer=customer
        )
        opened = _at(day, rng.randint(8, 19), rng.randrange(60))
        due = opened + (ticket.due_at - ticket.created_at)
        Ticket.objects.filter(pk=ticket.pk).update(created_at=opened, due_at=due)
        fate = n % 4  # closed in time, closed late, still open, closed in time
        if fate != 2 and day < today:
            ticket = ticket_update(ticket=ticket, status=TicketStatus.CLOSED, assignee=agent, by=agent)
            hours = (due - opened).total_seconds() / 3600
            closed = opened + dt.timedelta(hours=hours * (1.6 if fate == 1 else rng.uniform(0.1, 0.9)))
            Ticket.objects.filter(pk=ticket.pk).update(closed_at=closed)
        made += 1
    return made


def _searches(rng: random.Random, today: dt.date) -> int:
    searchers = [(_login(login.username), login.province) for login in DEMO_LOGINS if login.role != Role.MAINTAINER]
    kinds = [kind for kind, _ in SEARCH_KINDS]
    weights = [weight for _, weight in SEARCH_KINDS]
    events: list[Any] = []
    for _ in range(240):
        user, province = searchers[0] if rng.random() < 0.7 else rng.choice(searchers)
        day = today - dt.timedelta(days=rng.randint(0, 27))
        kind = rng.choices(kinds, weights)[0]
        results = 0 if kind == "unrecognised" or rng.random() < 0.1 else rng.randint(1, 12)
        events.append(SearchEvent(user=user, province=province, kind=kind, results=results,
                                  opened=results == 1, at=_at(day, rng.randint(8, 20), rng.randrange(60))))  # fmt: skip
    SearchEvent.objects.bulk_create(events)
    return len(events)


def demo_activity_seed(*, seed: int = 2026, today: dt.date | None = None) -> dict[str, int]:
    """Add the demo's upload history, tickets and searches (see the module docstring); returns the counts."""
    today = today or beijing_today()
    rng = random.Random(seed)  # noqa: S311 — demo data, not secrets
    counts = {"upload batches": _uploads(rng, today)}
    with transaction.atomic():
        counts["tickets"] = _tickets(rng, today)
        counts["searches"] = _searches(rng, today)
    return counts
