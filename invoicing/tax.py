"""Price–tax separation (价税分离) of toll documents, exactly, in integer fen (domain.md §3).

The rule is applied per printed line *after aggregation*: item amounts are summed into lines first
(``tax_lines``), then each line's gross is split once:

    net = round_half_up(gross / (1 + r), 2 decimals of yuan)      tax = gross − net

so ``net + tax == gross`` exactly. Arithmetic is ``Decimal`` on integer fen; a float anywhere is a TypeError.

Tolerances (``check_invoice``): per line ``|net × r − tax| ≤ 0.06`` yuan, per invoice the cumulative error
``|Σ (net × r − tax)| ≤ 1.27`` yuan. Why the line rule never trips and when the invoice rule can:

    Let x = gross / (1 + r) exactly and e = net − x the rounding error, |e| ≤ ½ fen. Then tax = gross − net =
    x(1 + r) − x − e = x·r − e, so net × r − tax = (x + e)·r − (x·r − e) = e·(1 + r).

    A line is off by at most ½ × 1.09 = 0.545 fen (0.00545 yuan), an eleventh of the 6 fen allowed: no line at
    3 %, 5 % or 9 % can ever fail. (With 1 + r = 103/100, 105/100 or 109/100 the quotient 100·gross/(100 + 100r)
    never ends in an exact half, so ROUND_HALF_UP and half-even agree here.)

    An invoice of n lines is off by at most n × 0.545 fen, so up to ``SAFE_LINES_PER_INVOICE`` = 233 lines it
    always passes, whatever the amounts. Past that it fails only when the line errors pile up on one side: the
    worst line at 9 % is 10.96 yuan (1005.5046 fen rounds up to 10.06 + 0.90, error +0.54 fen), and 236 such
    lines make 1.2744 yuan. Errors of mixed amounts mostly cancel (a random walk, ≈ 0.3·√n fen), so the check
    guards very long merged invoices; an issuer that hits it splits the document.

Non-taxable lines (top-up invoices, 不征税) and fiscal receipts have rate ``None``: net = gross, tax = 0.
Red-letter (negative) amounts split symmetrically: split(−g) = (−net, −tax).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import TypeVar

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from piaogen.money import amount_in_words

TAX_RATES: frozenset[Decimal] = frozenset({Decimal("0.03"), Decimal("0.05"), Decimal("0.09")})
"""Taxable rates of toll and taxi documents (domain.md §2); ``None`` is 不征税 / fiscal receipt."""

LINE_TOLERANCE_FEN = 6
"""``|net × r − tax|`` may be at most 0.06 yuan on one line."""

INVOICE_TOLERANCE_FEN = 127
"""The lines' errors may add up to at most 1.27 yuan on one invoice."""

SAFE_LINES_PER_INVOICE = 233
"""An invoice with at most this many lines always passes ``check_invoice``: 233 × 0.545 fen ≤ 127 fen."""

K = TypeVar("K", bound=Hashable)


class TaxToleranceError(ValidationError):
    """A document's tax is outside the line or invoice tolerance of domain.md §3."""


def _check_rate(rate: Decimal | None) -> Decimal | None:
    if rate is None:
        return None
    if not isinstance(rate, Decimal):
        raise TypeError(f"tax rate must be a Decimal or None, got {type(rate).__name__}")
    if rate not in TAX_RATES:
        raise ValueError(f"unsupported tax rate: {rate!r} (allowed: 0.03, 0.05, 0.09 or None)")
    return rate


def _check_fen(gross_fen: int) -> int:
    if not isinstance(gross_fen, int) or isinstance(gross_fen, bool):
        raise TypeError(f"amounts are int fen, got {type(gross_fen).__name__}")
    return gross_fen


def split_gross(gross_fen: int, rate: Decimal | None) -> tuple[int, int]:
    """Split a line's gross (价税合计, fen) into ``(net, tax)`` in fen; ``rate=None`` gives ``(gross, 0)``."""
    gross_fen = _check_fen(gross_fen)
    rate = _check_rate(rate)
    if rate is None:
        return gross_fen, 0
    magnitude = abs(gross_fen)
    net = int((Decimal(magnitude) / (1 + rate)).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    if gross_fen < 0:
        return -net, -(magnitude - net)
    return net, magnitude - net


@dataclass(frozen=True, slots=True)
class TaxLine:
    """One printed line: gross = net + tax, in fen, at ``rate`` (None: 不征税 or fiscal receipt)."""

    gross: int
    net: int
    tax: int
    rate: Decimal | None

    def __post_init__(self) -> None:
        if self.net + self.tax != self.gross:
            raise ValueError(f"net {self.net} + tax {self.tax} != gross {self.gross}")

    @classmethod
    def of(cls, gross_fen: int, rate: Decimal | None) -> TaxLine:
        """The line for ``gross_fen`` at ``rate``, split by ``split_gross``."""
        net, tax = split_gross(gross_fen, rate)
        return cls(gross=gross_fen, net=net, tax=tax, rate=rate)

    @property
    def error_fen(self) -> Decimal:
        """``net × r − tax`` in fen (exact: r has two decimals); 0 for a non-taxable line."""
        if self.rate is None:
            return Decimal(0)
        return self.net * self.rate - self.tax


def tax_lines(items: Iterable[tuple[K, int]], rate: Decimal | None) -> dict[K, TaxLine]:
    """Aggregate item amounts ``(line key, gross fen)`` into lines by key, then split each line once.

    Lines come in the order their keys first appear. The key is whatever groups items on the printed document
    (e.g. ``(plate, vehicle type)`` for a merged invoice, the item itself for one line per item).
    """
    _check_rate(rate)
    grosses: dict[K, int] = {}
    for key, gross_fen in items:
        grosses[key] = grosses.get(key, 0) + _check_fen(gross_fen)
    return {key: TaxLine.of(gross, rate) for key, gross in grosses.items()}


def check_invoice(lines: Iterable[TaxLine]) -> None:
    """Raise ``TaxToleranceError`` unless every line and the invoice as a whole are within tolerance."""
    total_error = Decimal(0)
    for number, line in enumerate(lines, start=1):
        error = line.error_fen
        if abs(error) > LINE_TOLERANCE_FEN:
            raise TaxToleranceError(
                _("第%(line)s行税额误差%(error)s元，超过允许的0.06元"),
                code="tax_line_tolerance",
                params={"line": number, "error": _yuan(error)},
            )
        total_error += error
    if abs(total_error) > INVOICE_TOLERANCE_FEN:
        raise TaxToleranceError(
            _("整张票据税额累计误差%(error)s元，超过允许的1.27元，请拆分票据"),
            code="tax_invoice_tolerance",
            params={"error": _yuan(total_error)},
        )


def _yuan(error_fen: Decimal) -> str:
    return f"{(error_fen / 100).quantize(Decimal('0.0001')):f}"


def totals(lines: Iterable[TaxLine]) -> tuple[int, int, int]:
    """``(gross, net, tax)`` totals of a document's lines, in fen (合计 and 价税合计)."""
    gross = net = tax = 0
    for line in lines:
        gross += line.gross
        net += line.net
        tax += line.tax
    return gross, net, tax


def total_in_words(lines: Iterable[TaxLine]) -> str:
    """价税合计（大写）: the lines' gross total in Chinese capital numerals (负 for red-letter documents)."""
    return amount_in_words(sum(line.gross for line in lines))
