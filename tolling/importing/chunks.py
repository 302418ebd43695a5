"""Reading an upload into chunks of rows, read ahead on a thread while the previous chunk loads."""

from __future__ import annotations

import csv
import ctypes
import functools
import io
import itertools
import logging
import queue
import threading
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import TypeVar

from tolling.reading import Table

logger = logging.getLogger("tolling.importing")  # one logger for the package

DEFAULT_CHUNK_ROWS = 50_000
STAGING = "ingest_stg"
CHECKED = "ingest_chk"
BAD_VALUES = "ingest_bad"
TIMEZONE = "Asia/Shanghai"


# --- memory --------------------------------------------------------------------------------------------------------

_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter (malloc.h)


@functools.cache
def large_buffers_mapped() -> bool:
    """Keep the chunks' buffers (≈ 16 MB each) in their own memory maps, returned to the system when freed.

    glibc raises its mmap threshold to the size of every mapped block freed, up to 32 MB: after the first chunk the
    next ones come from the heap, whose freed space the following chunks only partly reuse, so a worker's memory
    grew with the file (a 10 M-row file: 317 MB at the end against 237 MB at 1 M). A fixed 1 MB threshold (which
    also turns the raising off) kept it at 235 MB over 10 M rows (docs/benchmarks.md § Ingest). Once per process;
    False where the C library has no ``mallopt`` (not glibc).
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (AttributeError, OSError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, 1 << 20))


# --- reading into chunks -------------------------------------------------------------------------------------------


@dataclass
class Chunk:
    index: int  # 0, 1, 2… in this run: chunks commit in this order
    data: bytes  # UTF-8 CSV for COPY: line_no, ncells, cells…
    rows: int
    done_before: int  # data rows of the file before this chunk: the batch's rows_done when it commits


def chunks_read(table: Table, *, skip: int, size: int) -> Iterator[Chunk]:
    """The data rows after the first ``skip``, as COPY-ready UTF-8 CSV of ``size`` rows each.

    A plain record goes through as its own text behind its line number; others are re-written by csv.writer.
    """
    width = len(table.header)
    records = itertools.islice(table.records(), skip, None)
    done = skip
    slow = io.StringIO()
    writer = csv.writer(slow, lineterminator="\n")
    for index in itertools.count():
        parts: list[bytes] = []  # encoded line by line: a joined str of Chinese text takes 2–4 bytes a character
        add = parts.append
        for line_no, record in itertools.islice(records, size):
            if type(record) is str:
                add(f"{line_no},{width},{record}\n".encode())
            else:
                writer.writerow((line_no, len(record), *record[:width]))
                add(slow.getvalue().encode())
                slow.seek(0)
                slow.truncate()
        if not parts:
            return
        yield Chunk(index, b"".join(parts), len(parts), done)
        done += len(parts)


_T = TypeVar("_T")


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


_DONE = object()


def prefetch(items: Iterator[_T], depth: int = 1) -> Generator[_T, None, None]:
    """Run ``items`` in a thread, ``depth`` ahead: Python parses while PostgreSQL loads."""
    slots: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                slots.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def run() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put(_DONE)
        except BaseException as exc:
            put(_Failure(exc))

    worker = threading.Thread(target=run, name="ingest-reader", daemon=True)
    worker.start()
    try:
        while True:
            item = slots.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.exc
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        worker.join()
