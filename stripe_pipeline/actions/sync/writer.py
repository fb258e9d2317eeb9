"""Writes that go on while the listing does: a due flush inside a batch hands what it staged to
one background thread, and the listing stages the next rows meanwhile.

Why: a flush's statement is mostly the database's own time, and the listing stood still while it
ran. 30,000 invoices and their 46,000 lines, listed into PostgreSQL: 12 s of a 28 s backfill were
spent waiting for the server's upserts (docs/performance.md).

At most one write is in flight, and writes land in the order they were staged: each waits for the
one before, so a checkpoint never vouches for rows that did not land. A write that fails fails
every later one too (the error is raised again by the next flush and at the batch's end): a later
checkpoint must not pass the rows it lost. Only where the database takes a write on one connection
while the sync reads on another (Warehouse.writes_in_background: the server databases); elsewhere
the write runs in the listing's own thread, as `flush()` outside a batch always does.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor


class Writer:
    def __init__(self, background: bool):
        self._background = background
        self._pool: ThreadPoolExecutor | None = None
        self._in_flight: Future[object] | None = None
        self._failed: BaseException | None = None

    def submit(self, write: Callable[[], object]) -> None:
        """Start `write` once the write before it has landed; in this thread where writes do not
        go to the background."""
        self.wait()
        if not self._background:
            write()
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="stripe-writer")
        self._in_flight = self._pool.submit(write)

    def wait(self) -> None:
        """Until the write in flight has landed; raises what a write raised, every time."""
        in_flight, self._in_flight = self._in_flight, None
        if in_flight is not None:
            try:
                in_flight.result()
            except BaseException as error:
                self._failed = error
        if self._failed is not None:
            raise self._failed

    def close(self) -> None:
        """Wait for the write in flight and stop the thread. Its error is not raised here (close
        runs on the way out); the batch's last flush, before, raised it through `wait`."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)
