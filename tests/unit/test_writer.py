"""The background writer (actions/sync/writer.py): writes land one at a time and in order, the
listing goes on while one is in flight, and a write that fails stops every later one, so that no
checkpoint passes rows that did not land. Plain callables stand in for the warehouse writes: what
is tested is the ordering, not the database."""

from __future__ import annotations

import threading

import pytest

from stripe_pipeline.actions.sync.writer import Writer


def test_writes_land_in_order_one_at_a_time_while_the_caller_goes_on():
    writer = Writer(background=True)
    landed: list[int] = []
    in_flight = threading.Semaphore(1)
    release = threading.Event()

    def write(number: int):
        def run() -> None:
            assert in_flight.acquire(blocking=False), "two writes at once"
            if number == 0:
                assert release.wait(5)
            landed.append(number)
            in_flight.release()

        return run

    writer.submit(write(0))
    # The first write is held: the caller is not.
    assert landed == []
    release.set()
    for number in range(1, 20):
        writer.submit(write(number))
    writer.wait()
    writer.close()
    assert landed == list(range(20))


def test_a_failed_write_fails_every_later_one_and_none_of_them_runs():
    writer = Writer(background=True)
    ran: list[str] = []

    def fails() -> None:
        raise RuntimeError("the warehouse refused the batch")

    writer.submit(fails)
    with pytest.raises(RuntimeError, match="refused the batch"):
        writer.submit(lambda: ran.append("the next batch, with a checkpoint past the lost one"))
    with pytest.raises(RuntimeError, match="refused the batch"):
        writer.wait()  # the batch's end raises it again
    writer.close()
    assert ran == []


def test_without_a_background_the_write_runs_in_the_callers_thread():
    writer = Writer(background=False)
    threads: list[str] = []
    writer.submit(lambda: threads.append(threading.current_thread().name))
    assert threads == [threading.current_thread().name]
    writer.close()
