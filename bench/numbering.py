#!/usr/bin/env python3
"""Number series micro-benchmark (ADR 0002): how fast ``number_take`` hands out gapless numbers.

    python bench/numbering.py [--takes 5000] [--blocks 1000] [--block-size 1000] [--threads 4]

Each take is its own transaction (``transaction.atomic`` + ``number_take`` + commit), as an issuing chunk does:

(a) ``count=1`` in a loop, one connection: one round trip and one commit per number;
(b) ``count=--block-size`` blocks, one connection: the way issuing runs should take numbers;
(c) ``digital_invoice_numbers(count=--block-size)``: (b) plus formatting the 20-digit numbers in Python;
(d) ``--threads`` threads, one connection each, ``count=1`` on the SAME series: every take waits for the row lock
    held by the previous one until it commits;
(e) the same threads on one series EACH (one per province): no lock waits, only CPU and commits;
(f) ``--threads`` threads, blocks of ``--block-size`` on the same series;
(g) as (f), but each transaction keeps working ``--hold-ms`` after taking its block (writing the chunk's
    documents): the row lock is held to commit, so one series serves at most one block per hold time.

Uses series keys ``bench:<pid>:…`` in the development database and deletes them afterwards.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "piaogen.settings")

import django  # noqa: E402

django.setup()

from django.db import connection, transaction  # noqa: E402

from invoicing.models import NumberSeries  # noqa: E402
from invoicing.numbering import digital_invoice_numbers, number_take  # noqa: E402

PREFIX = f"bench:{os.getpid()}:"
BENCH_DAY = dt.date(2099, 1, 1)  # a year no real document has: its 数电 series is deleted afterwards


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--takes", type=int, default=5000, help="takes of one number per single-number run")
    parser.add_argument("--blocks", type=int, default=1000, help="takes per block run")
    parser.add_argument("--block-size", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--hold-ms", type=float, default=20.0, help="work after the take in run (g)")
    return parser.parse_args()


def _take_loop(series: str, takes: int, count: int, hold: float = 0.0) -> int:
    """Take ``count`` numbers ``takes`` times, one transaction each (kept open ``hold`` seconds after the take);
    return how many numbers were taken."""
    for _ in range(takes):
        with transaction.atomic():
            number_take(series=series, count=count)
            if hold:
                time.sleep(hold)
    return takes * count


def _timed(label: str, run: Callable[[], int]) -> None:
    started = time.perf_counter()
    numbers = run()
    seconds = time.perf_counter() - started
    print(f"{label:<58} {numbers:>10,} numbers {seconds:7.2f} s {numbers / seconds:>14,.0f} numbers/s")


def _threaded(threads: int, work: Callable[[int], int]) -> int:
    """Run ``work(index)`` in ``threads`` threads (one connection each) from a common start; total numbers."""
    totals = [0] * threads
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def run(index: int) -> None:
        try:
            start.wait()
            totals[index] = work(index)
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    pool = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    if errors:
        raise errors[0]
    return sum(totals)


def _formatted_blocks(blocks: int, size: int) -> int:
    for _ in range(blocks):
        with transaction.atomic():
            digital_invoice_numbers(province="32", issued_on=BENCH_DAY, channel=9, count=size)
    return blocks * size


def main() -> None:
    args = _parse()
    n, size, threads = args.takes, args.block_size, args.threads
    per_thread = n // threads
    print(f"load average: {os.getloadavg()[0]:.2f}  ({os.cpu_count()} CPUs)")
    try:
        _timed("(a) count=1, one connection", lambda: _take_loop(PREFIX + "a", n, 1))
        _timed(f"(b) count={size}, one connection", lambda: _take_loop(PREFIX + "b", args.blocks, size))
        _timed(
            f"(c) digital_invoice_numbers(count={size}) incl. formatting", lambda: _formatted_blocks(args.blocks, size)
        )
        _timed(
            f"(d) count=1, {threads} threads, one series",
            lambda: _threaded(threads, lambda i: _take_loop(PREFIX + "d", per_thread, 1)),
        )
        _timed(
            f"(e) count=1, {threads} threads, a series each",
            lambda: _threaded(threads, lambda i: _take_loop(f"{PREFIX}e{i}", per_thread, 1)),
        )
        _timed(
            f"(f) count={size}, {threads} threads, one series",
            lambda: _threaded(threads, lambda i: _take_loop(PREFIX + "f", args.blocks // threads, size)),
        )
        hold, held_takes = args.hold_ms / 1000, max(1, int(1 / (args.hold_ms / 1000)) // threads)
        _timed(
            f"(g) count={size}, {threads} threads, one series, {args.hold_ms:g} ms held",
            lambda: _threaded(threads, lambda i: _take_loop(PREFIX + "g", held_takes, size, hold)),
        )
        expected = {"a": n + 1, "b": args.blocks * size + 1, "d": per_thread * threads + 1}
        for suffix, value in expected.items():
            assert NumberSeries.objects.get(key=PREFIX + suffix).next_value == value, f"series {suffix} has a gap"
    finally:
        NumberSeries.objects.filter(key__startswith=PREFIX).delete()
        NumberSeries.objects.filter(key="digital:99:32:9").delete()


if __name__ == "__main__":
    main()
