"""factory_boy factories for the core models: the defaults make a valid Jiangsu (32) row, sequences keep natural keys
unique, and each related row is made when none is given (``SegmentFactory.create()`` makes its toll unit and operator).

    road = OperatorFactory.create(name="江苏宁沪高速公路股份有限公司")
    unit = TollUnitFactory.create(operator=road, rate=Decimal("0.03"))   # with a tax rate from 2020-01-01
    SegmentFactory.create(toll_unit=unit, exit_time=days_ago(20), fee=1234)
    UploadBatchFactory.create(uploaded_by=user, errors="行号\\n")   # stored files: the test's own media folder

(``.create()`` rather than calling the class: mypy then knows it is the model.)

Composite state (issued documents, tickets, claims) is built through the real services on top of these, never by
hand: a factory makes the facts a service starts from. ``DocumentFactory`` is for pages that only show a document.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import factory
from django.core.files.base import ContentFile

from invoicing.models import (
    BusinessLine,
    BuyerTitle,
    CardBinding,
    Customer,
    Document,
    DocumentKind,
    DocumentLine,
)
from tolling.models import (
    Card,
    Operator,
    OperatorKind,
    RoadNature,
    Segment,
    TollUnit,
    TollUnitRate,
    TopUp,
    UploadBatch,
    UploadStatus,
)

BJ = ZoneInfo("Asia/Shanghai")
POST_CARD = "32010000000000000003"  # card type 23: post-pay
PREPAID_CARD = "32010000000000000001"  # card type 22: prepaid
NOON = dt.datetime(2026, 11, 1, 12, tzinfo=BJ)  # the default exit or top-up time (before any test's "today")


def beijing_date(moment: dt.datetime) -> dt.date:
    return moment.astimezone(BJ).date()


class OperatorFactory(factory.django.DjangoModelFactory[Operator]):
    """A road operator of Jiangsu; ``kind=OperatorKind.CARD_ISSUER`` for an issuer (the one a top-up names)."""

    class Meta:
        model = Operator

    kind = OperatorKind.ROAD_OPERATOR
    tax_id = factory.Sequence(lambda n: f"91320000{n:09d}X")
    name = factory.Sequence(lambda n: f"江苏高速公路{n}有限公司")
    province = "32"


class TollUnitFactory(factory.django.DjangoModelFactory[TollUnit]):
    """A commercial toll unit in its operator's province; ``rate=Decimal("0.03")`` adds its tax rate from
    2020-01-01 (a loan road has none)."""

    class Meta:
        model = TollUnit
        skip_postgeneration_save = True

    operator = factory.SubFactory(OperatorFactory)
    province = factory.SelfAttribute("operator.province")
    code = factory.LazyAttributeSequence(lambda unit, n: f"G0001{unit.province}{n:09d}")
    name = factory.Sequence(lambda n: f"收费单元{n}")
    road_nature = RoadNature.COMMERCIAL

    @factory.post_generation
    def rate(unit: TollUnit, create: bool, extracted: Decimal | None, **kwargs: Any) -> None:
        if create and extracted is not None:
            TollUnitRate.objects.create(toll_unit=unit, tax_rate=extracted, valid_from=dt.date(2020, 1, 1))


class CustomerFactory(factory.django.DjangoModelFactory[Customer]):
    class Meta:
        model = Customer

    name = "张三"
    phone = factory.Sequence(lambda n: f"137{n:08d}")


class CardBindingFactory(factory.django.DjangoModelFactory[CardBinding]):
    class Meta:
        model = CardBinding

    customer = factory.SubFactory(CustomerFactory)
    card_no = POST_CARD
    bound_at = factory.LazyFunction(lambda: NOON - dt.timedelta(days=400))


class BuyerTitleFactory(factory.django.DjangoModelFactory[BuyerTitle]):
    """The account's default title (no card named), a person's, in the customer's name."""

    class Meta:
        model = BuyerTitle

    customer = factory.SubFactory(CustomerFactory)
    kind = "person"
    name = factory.SelfAttribute("customer.name")
    valid_from = factory.LazyFunction(lambda: NOON - dt.timedelta(days=400))


class CardFactory(factory.django.DjangoModelFactory[Card]):
    class Meta:
        model = Card

    card_no = POST_CARD
    card_type = factory.LazyAttribute(lambda card: 22 if card.card_no == PREPAID_CARD else 23)
    province = factory.LazyAttribute(lambda card: card.card_no[:2])


class SegmentFactory(factory.django.DjangoModelFactory[Segment]):
    """One charged segment of a trip (exit an hour after entry, service date the Beijing date of the exit), paid in
    full (``pay_fee`` = ``fee`` + ``discount_fee``), in its toll unit's province."""

    class Meta:
        model = Segment

    pass_id = factory.Sequence(lambda n: f"P9{n:019d}")  # apart from the fixtures' own P0000… series
    segment_no = 1
    card_no = POST_CARD
    card_type = factory.LazyAttribute(lambda segment: 22 if segment.card_no == PREPAID_CARD else 23)
    plate = "苏A12345"
    plate_color = 0
    vehicle_class = 1
    toll_unit = factory.SubFactory(TollUnitFactory, rate=Decimal("0.03"))
    province = factory.SelfAttribute("toll_unit.province")
    exit_time = NOON
    entry_time = factory.LazyAttribute(lambda segment: segment.exit_time - dt.timedelta(hours=1))
    service_date = factory.LazyAttribute(lambda segment: beijing_date(segment.exit_time))
    entry_station = "南京"
    exit_station = "苏州"
    fee = 1000
    discount_fee = 0
    pay_fee = factory.LazyAttribute(lambda segment: segment.fee + segment.discount_fee)


class TopUpFactory(factory.django.DjangoModelFactory[TopUp]):
    """A top-up of a prepaid card at its issuer, in the issuer's province."""

    class Meta:
        model = TopUp

    topup_id = factory.Sequence(lambda n: f"TF{n}")
    card_no = PREPAID_CARD
    amount = 10000
    topped_up_at = NOON
    service_date = factory.LazyAttribute(lambda topup: beijing_date(topup.topped_up_at))
    issuer = factory.SubFactory(OperatorFactory, kind=OperatorKind.CARD_ISSUER)
    province = factory.SelfAttribute("issuer.province")


class UploadBatchFactory(factory.django.DjangoModelFactory[UploadBatch]):
    """A finished segments upload with its stored file (``content``); ``errors="…"`` adds an error file with that
    text (a byte-order mark first, as the loader writes it)."""

    class Meta:
        model = UploadBatch
        skip_postgeneration_save = True

    class Params:
        content = b"x"

    kind = "segments"
    province = "32"
    uploaded_by = None
    file_name = "a.csv"
    file = factory.LazyAttribute(lambda batch: ContentFile(batch.content, name=batch.file_name))
    file_size = factory.LazyAttribute(lambda batch: len(batch.content))
    sha256 = factory.LazyAttribute(lambda batch: hashlib.sha256(batch.content).hexdigest())
    status = UploadStatus.DONE

    @factory.post_generation
    def errors(batch: UploadBatch, create: bool, extracted: str | None, **kwargs: Any) -> None:
        if extracted is not None:
            batch.error_file.save("errors.csv", ContentFile(("\ufeff" + extracted).encode()), save=create)


class DocumentFactory(factory.django.DjangoModelFactory[Document]):
    """An issued digital invoice of ¥100.00 at 3 % with one line, sold by ``seller`` as it is named now — for pages
    that show a document; documents a test reasons about are issued through ``invoicing.issuing``."""

    class Meta:
        model = Document
        skip_postgeneration_save = True

    kind = DocumentKind.DIGITAL_INVOICE
    business_line = BusinessLine.ETC_TRIP
    number = factory.Sequence(lambda n: f"2632{n:016d}")
    service_date = dt.date(2026, 11, 20)
    seller = factory.SubFactory(OperatorFactory)
    province = factory.SelfAttribute("seller.province")
    seller_name = factory.SelfAttribute("seller.name")
    seller_tax_id = factory.SelfAttribute("seller.tax_id")
    buyer_name = "张三"
    card_no = PREPAID_CARD
    tax_rate = Decimal("0.03")
    amount_net = 9709
    amount_tax = 291
    amount_gross = 10000

    @factory.post_generation
    def lines(document: Document, create: bool, extracted: Any, **kwargs: Any) -> None:
        """One line for the whole amount (``lines=False``: none)."""
        if create and extracted is not False:
            DocumentLine.objects.create(
                document=document, line_no=1, item_name="*经营租赁*通行费", plate="苏A12345",
                tax_rate=document.tax_rate, amount_net=document.amount_net, amount_tax=document.amount_tax,
                amount_gross=document.amount_gross,
            )  # fmt: skip
