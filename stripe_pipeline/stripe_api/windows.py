"""Listing one endpoint in parallel: the `created` range cut into windows walked concurrently.

A cursor walk is sequential: one page of 100 per round trip. Windows of `created` seconds
(inclusive, never overlapping) can be walked side by side. A window starts with one request;
when its pages show it is dense and workers are idle, what it has left is cut in parts: it
keeps the newest part, where its cursor is, and the older parts become new windows. Cuts fall
strictly below the cursor's second, so every object is fetched once, ties on a boundary
included, a cut costs no request, and a sparse or empty window costs one.

Workers put pages into a bounded queue that the caller drains, so memory stays flat however
fast the API answers and however slow the warehouse writes.
"""

from __future__ import annotations

import math
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

from .client import StripeApiClient

PAGE_SIZE = 100
# A window's last page is usually part-full: windows worth a few pages keep that waste small.
MIN_PAGES_PER_WINDOW = 16
# Stripe's oldest objects are from 2011; below that, one window, one (empty) request.
STRIPE_EPOCH = 1_293_840_000  # 2011-01-01


@dataclass(frozen=True)
class Window:
    """Objects with `gte <= created <= lte`, newest first, after the object `after` if set."""

    gte: int
    lte: int
    after: str | None = None

    def params(self) -> dict:
        params = {"created": {"gte": self.gte, "lte": self.lte}, "limit": PAGE_SIZE}
        if self.after:
            params["starting_after"] = self.after
        return params

    def span(self) -> int:
        return self.lte - self.gte + 1


def initial_windows(lte: int) -> list[Window]:
    """Everything created up to `lte`; the years before Stripe existed cost one request."""
    if lte < STRIPE_EPOCH:
        return [Window(0, lte)]
    return [Window(0, STRIPE_EPOCH - 1), Window(STRIPE_EPOCH, lte)]


def split(window: Window, parts: int) -> list[Window]:
    """Cut a window into up to `parts` windows of about equal span, newest first."""
    parts = max(1, min(parts, window.span()))
    step, extra = divmod(window.span(), parts)
    windows, lte = [], window.lte
    for index in range(parts):
        width = step + (1 if index < extra else 0)
        windows.append(Window(lte - width + 1, lte))
        lte -= width
    return windows


@dataclass
class WindowPage:
    """One page, and how the walk stands after it: the windows `window_id` turned into.

    `remaining` is what is left of the window (None when it is done); `new_windows` were cut
    from it. A consumer that applies these in order always knows every window still to list.
    """

    window_id: int
    objects: list[dict]
    remaining: Window | None
    new_windows: dict[int, Window] = field(default_factory=dict)


class _Failed:
    def __init__(self, error: BaseException):
        self.error = error


_DONE = object()


class ParallelLister:
    """Walks windows of one list endpoint with `concurrency` threads.

    >>> lister = ParallelLister(client, "/v1/customers", {}, concurrency=8)
    >>> for page in lister.pages({0: Window(0, now)}): ...
    """

    def __init__(
        self,
        client: StripeApiClient,
        path: str,
        params: dict,
        *,
        concurrency: int = 8,
        queue_pages: int | None = None,
        min_pages_per_window: int = MIN_PAGES_PER_WINDOW,
    ):
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, not {concurrency}")
        self.client = client
        self.path = path
        self.params = params
        self.concurrency = concurrency
        self.min_pages_per_window = min_pages_per_window
        self._results: queue.Queue = queue.Queue(maxsize=queue_pages or concurrency)
        self._work: queue.Queue[tuple[int, Window]] = queue.Queue()
        self._lock = threading.Lock()
        self._active = 0
        self._next_id = 0
        self._stop = threading.Event()
        self._estimates: dict[int, float] = {}  # window -> objects it probably still holds
        self._pages_seen = 0

    def estimated_remaining(self) -> int:
        """Objects still to list, estimated from the density of the windows seen so far."""
        with self._lock:
            return int(sum(self._estimates.values()))

    def pages(self, windows: dict[int, Window]) -> Iterator[WindowPage]:
        """Pages of all `windows` (keyed by ID) and of the windows cut from them, as they arrive."""
        with self._lock:
            self._next_id = max(windows, default=-1) + 1
            for window_id, window in windows.items():
                self._work.put((window_id, window))
                self._active += 1
        threads = [threading.Thread(target=self._worker, name=f"stripe-lister-{n}", daemon=True) for n in range(self.concurrency)]
        for thread in threads:
            thread.start()
        try:
            finished = 0
            while finished < len(threads):
                item = self._results.get()
                if item is _DONE:
                    finished += 1
                elif isinstance(item, _Failed):
                    raise item.error
                else:
                    yield item
        finally:
            self._stop.set()
            while True:  # unblock workers waiting on a full queue
                try:
                    self._results.get_nowait()
                except queue.Empty:
                    break
            for thread in threads:
                thread.join(timeout=5)

    def _worker(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    window_id, window = self._work.get(timeout=0.05)
                except queue.Empty:
                    with self._lock:
                        if self._active == 0:
                            break
                    continue
                self._walk(window_id, window)
                with self._lock:
                    self._active -= 1
        except BaseException as error:  # noqa: BLE001 - handed to the consumer, which raises it
            self._stop.set()
            self._put(_Failed(error))
        finally:
            self._put(_DONE)

    def _walk(self, window_id: int, window: Window) -> None:
        """Walk one window to its end, cutting off its older part for idle workers when dense."""
        fetched = 0
        top = window.lte  # the window's cursor moves down; density is measured from where it began
        while not self._stop.is_set():
            page = self.client.get(self.path, {**self.params, **window.params()})
            objects = page["data"]
            fetched += len(objects)
            with self._lock:
                self._pages_seen += 1
            if not page.get("has_more") or not objects:
                self._forget(window_id)
                self._put(WindowPage(window_id, objects, None))
                return
            last = objects[-1]
            density = fetched / (top - last["created"] + 1)  # objects per second in this window so far
            # Everything newer than the last object is listed; ties with it may still follow.
            gte, new_windows = self._cut(Window(window.gte, last["created"]), density)
            window = Window(gte, last["created"], last["id"])
            with self._lock:
                self._estimates[window_id] = density * window.span()
            # What a restart would list again: the cursor is left out, it may not outlive a crash.
            self._put(WindowPage(window_id, objects, Window(window.gte, window.lte), new_windows))

    def _cut(self, rest: Window, density: float) -> tuple[int, dict[int, Window]]:
        """Share `rest` (what a window still has to list) with idle workers when it likely holds
        several pages each. The walking window keeps the newest part, where its cursor is, so a
        cut costs no request; returns that part's `gte` and the new windows.

        Parts are sized by the density seen so far, newest first, and the oldest part takes all
        that is left: an account's early years are often sparse or empty, and an even split
        in time would spend a request on each empty year. There are never more windows than
        pages seen plus one, so a small account, whose density says little, is not cut into
        windows that turn out empty.
        """
        with self._lock:
            idle = self.concurrency - self._active  # workers without a window
            # Near the end, when windows run out, smaller ones keep every worker busy: there the
            # part-full pages they cost are cheaper than workers waiting on the last long windows.
            # (Only in listings long enough for that tail to matter.)
            tail = self._active < self.concurrency // 2 and self._pages_seen >= self.concurrency * self.min_pages_per_window
            min_pages = min(2, self.min_pages_per_window) if tail else self.min_pages_per_window
            part_span = max(1, math.ceil(min_pages * PAGE_SIZE / density))
            evidence = self._pages_seen + 1 - self._active  # new windows the pages seen so far justify
            parts = min(idle + 1, evidence + 1, math.ceil(rest.span() / part_span))
            if parts < 2:
                return rest.gte, {}
            if parts * part_span >= rest.span():
                pieces = split(rest, parts)
            else:
                pieces = [Window(rest.lte - (n + 1) * part_span + 1, rest.lte - n * part_span) for n in range(parts - 1)]
                pieces.append(Window(rest.gte, pieces[-1].gte - 1))
            kept, *older = pieces
            new_windows = {}
            for part in older:
                new_windows[self._next_id] = part
                self._estimates[self._next_id] = density * part.span()
                self._work.put((self._next_id, part))
                self._next_id += 1
                self._active += 1
        return kept.gte, new_windows

    def _forget(self, window_id: int) -> None:
        with self._lock:
            self._estimates.pop(window_id, None)

    def _put(self, item) -> None:
        while True:
            try:
                self._results.put(item, timeout=0.1)
                return
            except queue.Full:
                if self._stop.is_set() and item is not _DONE and not isinstance(item, _Failed):
                    return
