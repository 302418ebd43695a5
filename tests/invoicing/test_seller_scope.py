"""Issuing refuses a document whose seller is of another province than its items (issue #18, probe finding 1:
Zhejiang's toll unit named Jiangsu's operator and its trip was invoiced in Jiangsu's number series). Uploads can
no longer make such data (tests/tolling/test_write_scope.py); these rows are made by hand, as old data would be."""

from __future__ import annotations

from typing import Any

import pytest

from invoicing.issuing import IssuingError, issue_segments, issue_topups
from invoicing.models import Document, NumberSeries
from tests.fixtures import issuing
from tests.fixtures.issuing import CARD, TODAY, at, segment, topup
from tolling.models import RoadNature, Segment, TollUnit, TollUnitRate, TopUp

world = issuing.world  # the fixture


def test_a_segment_of_one_province_is_never_sold_by_another_provinces_operator(world: dict[str, Any]) -> None:
    borrowed = TollUnit.objects.create(
        code="G0001330010010A0", name="浙段", province="33", operator=world["road"], road_nature=RoadNature.COMMERCIAL
    )
    TollUnitRate.objects.create(toll_unit=borrowed, tax_rate="0.03", valid_from="2020-01-01")
    seg = segment(world, exit_time=at(2), fee=1000)
    Segment.objects.filter(pk=seg.pk).update(toll_unit=borrowed, province="33")
    series = list(NumberSeries.objects.values_list("pk", "next_value"))

    with pytest.raises(IssuingError) as refused:
        issue_segments(segment_ids=[seg.pk], today=TODAY)

    assert refused.value.code == "seller_province"
    assert not Document.objects.exists()
    assert list(NumberSeries.objects.values_list("pk", "next_value")) == series  # nothing numbered


def test_a_top_up_of_one_province_is_never_sold_by_another_provinces_issuer(world: dict[str, Any]) -> None:
    item = topup(world, when=at(2), amount=5000, card_no=CARD)
    TopUp.objects.filter(pk=item.pk).update(province="33")

    with pytest.raises(IssuingError):
        issue_topups(topup_ids=[item.pk])

    assert not Document.objects.exists()


def test_documents_of_matching_provinces_are_issued(world: dict[str, Any]) -> None:
    (doc,) = issue_segments(segment_ids=[segment(world, exit_time=at(2), fee=1000).pk], today=TODAY)

    assert doc.province == doc.seller.province == "32" and doc.number[2:4] == "32"
