"""The pipeline's reader thread: same batches, same order, errors surface."""

from __future__ import annotations

import threading

import pytest

from auditor.errors import CaptureError
from auditor.pipeline import _Prefetch


def test_prefetch_keeps_order_and_everything() -> None:
    assert list(_Prefetch(iter(range(1000)), depth=2)) == list(range(1000))


def test_prefetch_raises_the_readers_error_after_what_came_before() -> None:
    def reader():
        yield 1
        yield 2
        raise CaptureError("x.pcap: byte 40: damaged")

    got = []
    with pytest.raises(CaptureError, match="byte 40"):
        got.extend(_Prefetch(reader()))
    assert got == [1, 2]


def test_prefetch_stops_its_thread_when_the_consumer_stops() -> None:
    before = threading.active_count()
    gen = _Prefetch(iter(range(10**6)), depth=1)
    assert next(gen) == 0
    gen.close()  # the flow stage failed, say: the reader thread must end too
    assert threading.active_count() == before


def test_prefetch_reads_before_the_first_request_and_stops_when_closed_unread() -> None:
    """The reader thread starts at once (reading overlaps the flow stage's
    imports); closed before anything was taken, it still ends."""
    started = threading.Event()

    def reader():
        started.set()
        yield from range(10**6)

    before = threading.active_count()
    ahead = _Prefetch(reader(), depth=1)
    assert started.wait(timeout=60)
    ahead.close()
    assert threading.active_count() == before
