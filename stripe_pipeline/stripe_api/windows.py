"""Listing one endpoint in parallel: the `created` range cut into windows walked concurrently.

A cursor walk is sequential: one page of 100 per round trip. Windows of `created` seconds
(inclusive, never overlapping) can be walked side by side. A window starts with one request;
when its pages show it is dense and workers are idle, what it has left is cut in parts: it
keeps the newest part, where its cursor is, and the older parts become new windows. Cuts fall
strictly below the cursor's second, so every object is fetched once, ties on a boundary
included, a cut costs no request, and a sparse or empty window costs one. A second that holds
more than a page, which no cut can split, is walked from both ends.

Workers put pages into a bounded queue that the caller drains, so memory stays flat however
fast the API answers and however slow the warehouse writes.
"""

from __future__ import annotations

import math
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .. import policies
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
    observed_at: datetime | None = None  # Stripe's time of the response (set as the page is queued)


@dataclass(frozen=True)
class Remaining:
    """`objects` still to list in the windows that pages have measured, and `unmeasured`, the
    range of `created` that the other windows cover: it may hold any number of objects."""

    objects: int
    unmeasured: Window | None


# A worker's next job: walk a window, or walk up one second from below (a method and its arguments).
_Task = tuple[Callable[..., None], int, Any]

# Requests beyond the pages needed that a listing may spend, as a share of those pages (plus
# one per worker): on cutting windows, on empty ones and on part-full last pages.
MAX_WASTE = policies.MAX_LISTING_WASTE
# How far one page's density is taken to speak for: 32 pages' worth of `created` around it.
# Past that a window may hold anything (a gap, a burst), and its objects are not estimated.
MEASURED_PAGES = 32


def _outlook(window: Window, density: float | None) -> float | Window:
    """What a window probably holds, or the window itself where its `density` (None: unknown)
    does not speak for it."""
    if density is not None and window.span() * density <= MEASURED_PAGES * PAGE_SIZE:
        return window.span() * density
    return window


@dataclass
class _Tie:
    """A second walked from its top and its bottom at once, and the IDs listed of it so far."""

    second: int
    listed: set[str]
    walkers: int = 2
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Failed:
    def __init__(self, error: BaseException):
        self.error = error


_DONE = object()
_NO_MORE_WORK = (lambda: None, 0, None)  # a worker's last task: the listing is done


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
        self._work: queue.Queue[_Task] = queue.Queue()
        self._lock = threading.Lock()
        self._active = 0
        self._next_id = 0
        self._stop = threading.Event()
        # Per window: the objects it probably still holds, or its span where no page tells yet.
        self._outlook: dict[int, float | Window] = {}
        self._pages_seen = 0  # requests made
        self._listed = 0  # objects handed to the consumer
        self._ties: dict[int, _Tie] = {}  # windows of one second walked from both ends
        self.listed_from_below = 0  # objects of those seconds that the walkers going up fetched

    def remaining(self) -> Remaining:
        """What is still to list, as far as the pages seen so far tell."""
        with self._lock:
            outlook = list(self._outlook.values())
        unmeasured = [item for item in outlook if isinstance(item, Window)]
        return Remaining(
            objects=int(sum(item for item in outlook if not isinstance(item, Window))),
            unmeasured=Window(min(w.gte for w in unmeasured), max(w.lte for w in unmeasured)) if unmeasured else None,
        )

    def pages(self, windows: dict[int, Window]) -> Iterator[WindowPage]:
        """Pages of all `windows` (keyed by ID) and of the windows cut from them, as they arrive."""
        with self._lock:
            self._next_id = max(windows, default=-1) + 1
            for window_id, window in windows.items():
                self._outlook[window_id] = window  # nothing known of it yet
                self._work.put((self._walk, window_id, window))
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
                    next_task = self._work.get(timeout=0.05)
                except queue.Empty:
                    with self._lock:
                        if self._active == 0:
                            break
                    continue
                if next_task is _NO_MORE_WORK:
                    break
                walk, *task = next_task
                walk(*task)
                with self._lock:
                    self._active -= 1
                    finished = self._active == 0
                if finished:
                    # No window left, and none can be cut any more: the idle workers stop now, not at
                    # their next poll (50 ms later, on every listing: a small table's whole request).
                    for _ in range(self.concurrency):
                        self._work.put(_NO_MORE_WORK)
        except BaseException as error:  # noqa: BLE001 - handed to the consumer, which raises it
            self._stop.set()
            self._put(_Failed(error))
        finally:
            self._put(_DONE)

    def _walk(self, window_id: int, window: Window) -> None:
        """Walk one window to its end, cutting off its older part for idle workers when dense."""
        second: int | None = None  # the second the cursor is in, and what was listed of it
        in_second: list[str] = []
        top = None  # the newest object's `created`
        while not self._stop.is_set():
            page = self.client.get(self.path, {**self.params, **window.params()})
            objects = page["data"]
            more = bool(page.get("has_more") and objects)
            self._requested()
            tie = self._ties.get(window_id)
            if tie is not None:  # a second walked from both ends
                if self._tied_page(window_id, tie, objects, finished=not more):
                    return
                window = Window(window.gte, window.lte, objects[-1]["id"])
                continue
            if not more:
                self._forget(window_id)
                self._put(WindowPage(window_id, objects, None))
                return
            # Objects whose `created` is not a number (a proxy's, a mock's) are synced, but say
            # nothing of where the window stands: the page's other objects do.
            stamped = [obj for obj in objects if type(obj.get("created")) is int]
            if not stamped:
                window = Window(window.gte, window.lte, objects[-1]["id"])
                self._put(WindowPage(window_id, objects, Window(window.gte, window.lte)))
                continue
            first, last = stamped[0]["created"], stamped[-1]["created"]
            top = first if top is None else top
            single = first == last  # the whole page in one second
            if last != second:
                second, in_second = last, []
            in_second += [obj["id"] for obj in stamped if obj["created"] == second]
            # Measured over the page's own objects, not from the window's top: the newest object
            # may be years below it (an imported burst, a dormant account, a rarely created type),
            # and measured from there a dense window looks sparse and is never cut (issue 9).
            density = len(objects) / (first - last + 1)  # objects per second
            # Everything newer than the last object is listed; ties with it may still follow.
            gte, new_windows = self._cut(window_id, Window(window.gte, last), density, single, reach=top - last + 1)
            window = Window(gte, last, objects[-1]["id"])
            tasks: list[_Task] = [(self._walk, new_id, part) for new_id, part in new_windows.items()]
            if gte == second and len(in_second) > PAGE_SIZE and self._walk_from_below(window_id, second, in_second):
                tasks.append((self._walk_up, window_id, second))
            # What a restart would list again: the cursor is left out, it may not outlive a crash.
            self._put(WindowPage(window_id, objects, Window(window.gte, window.lte), new_windows))
            # Only now: a window's pages must not reach the consumer before the page that made it.
            for task in tasks:
                self._work.put(task)

    def _walk_from_below(self, window_id: int, second: int, listed: list[str]) -> bool:
        """A window that is one second holding more than a page cannot be cut: no `created`
        filter splits a second. An idle worker walks it upwards from the object just below it
        (`ending_before`), to meet this walker coming down. Returns whether it will. An
        account with 30 % of its objects in five seconds was listed at 68 % of the rate-limit
        bound with one walker per second, 79 % with two (benchmarks/backfill.py --distribution
        ties); what is left is finding the seconds, which only listing into them does."""
        with self._lock:
            # Its cost: the request for the object below, and the page where the two walkers meet.
            if window_id in self._ties or self._active >= self.concurrency or self._allowance() < 2:
                return False
            self._ties[window_id] = _Tie(second, set(listed))
            self._active += 1  # its task is queued by the caller
            return True

    def _walk_up(self, window_id: int, second: int) -> None:
        tie = self._ties[window_id]
        below = self.client.get(self.path, {**self.params, "created": {"lt": second}, "limit": 1})["data"]
        self._requested()
        if not below:  # nothing older to start from: the walker from the top lists it alone
            self._tied_page(window_id, tie, [], finished=True)
            return
        cursor = below[0]["id"]
        while not self._stop.is_set():
            # No `created` filter: the cursor stays inside the listing it pages through.
            page = self.client.get(self.path, {**self.params, "ending_before": cursor, "limit": PAGE_SIZE})
            objects = page["data"]  # the page above the cursor, newest first
            self._requested()
            inside = [obj for obj in objects if obj.get("created") == second]
            done = self._tied_page(window_id, tie, inside, finished=len(inside) < len(objects) or not page.get("has_more"))
            with self._lock:
                self.listed_from_below += len(inside)
            if done:
                return
            cursor = objects[0]["id"]

    def _tied_page(self, window_id: int, tie: _Tie, objects: list[dict], *, finished: bool) -> bool:
        """Hand on what one of a second's two walkers listed that the other has not; returns
        whether this walker is done. Each walks a contiguous run of the second's order toward
        the other, so once a page holds an object the other listed, everything is listed. The
        window stays outstanding until both are done: their pages are queued under the tie's
        lock, so the page that closes it comes last."""
        with tie.lock:
            met = any(obj["id"] in tie.listed for obj in objects)
            fresh = [obj for obj in objects if obj["id"] not in tie.listed]
            tie.listed.update(obj["id"] for obj in fresh)
            done = met or finished
            tie.walkers -= done
            closed = tie.walkers == 0
            if closed:
                self._forget(window_id)
            self._put(WindowPage(window_id, fresh, None if closed else Window(tie.second, tie.second)))
        return done

    def _cut(self, window_id: int, rest: Window, density: float, single: bool = False, reach: int = 0) -> tuple[int, dict[int, Window]]:
        """Share `rest` (what a window still has to list) with idle workers when it likely holds
        several pages each. The walking window keeps the newest part, where its cursor is, so a
        cut costs no request; returns that part's `gte` and the new windows, counted as active
        for the caller to queue.

        Parts are sized by the density of the last page, newest first, and the oldest part takes
        all that is left: below the cursor the account may be as dense, or empty for years, and
        an even split in time would spend a request on each empty part. The oldest part's first
        page tells which, and is cut in turn. The sized parts reach below the cursor no further
        than `reach`, the seconds this window has been walking dense objects: an hour-long burst
        a week is not cut into parts that reach into the empty week below (cut that way, 52
        weekly bursts ran at 32 % of the bound, with 48 empty windows; now 2). There are never
        more windows than pages seen plus one, so a small account, whose density says little,
        is not cut into windows that turn out empty, and never more than the requests can
        afford (`_allowance`).

        A page that is all one second (`single`) says nothing of the density below it: the
        walker keeps that second and the rest goes whole to an idle worker, whose first page
        measures it. Sized by the tie, the parts would be seconds wide and mostly empty.
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
            parts = min(idle + 1, evidence + 1, self._allowance() + 1, math.ceil(rest.span() / part_span))
            if single:
                parts = min(parts, 2) if rest.span() > 1 else 1
            measured = None if single else density  # a tie's density says nothing of what lies below
            if parts < 2:
                self._outlook[window_id] = _outlook(rest, measured)
                return rest.gte, {}
            if single:
                pieces = [Window(rest.lte, rest.lte), Window(rest.gte, rest.lte - 1)]
            elif parts * part_span >= rest.span():
                pieces = split(rest, parts)
            else:
                # Sized parts reach no further below the cursor than this window has been dense
                # above it: past a burst's start they would be empty, a request each.
                sized = min(parts - 1, max(1, math.ceil(reach / part_span)))
                pieces = [Window(rest.lte - (n + 1) * part_span + 1, rest.lte - n * part_span) for n in range(sized)]
                pieces.append(Window(rest.gte, pieces[-1].gte - 1))
            kept, *older = pieces
            self._outlook[window_id] = _outlook(kept, measured)
            new_windows = {}
            for part in older:
                new_windows[self._next_id] = part
                self._outlook[self._next_id] = _outlook(part, measured)
                self._next_id += 1
                self._active += 1
        return kept.gte, new_windows

    def _allowance(self) -> int:
        """New windows the request count can still afford (call with the lock held).

        Requests beyond the pages the objects fill are the waste: part-full and empty last
        pages. Each window still walking may add up to one request of it, a new window too, and
        a second's walker going up two (the request for the object below, and the page where the
        walkers meet). Keeping the waste so far plus that worst case within 5 % of the objects'
        pages plus the concurrency keeps the requests within 5 % of the pages needed plus one per
        worker (a property test checks). A large account is far from it (26-38 wasted requests
        in 2,000 pages); a small or bursty one is walked with fewer windows instead.
        """
        waste = self._pages_seen - self._listed / PAGE_SIZE
        return math.floor(MAX_WASTE * self._listed / PAGE_SIZE + self.concurrency - waste - self._active)

    def _requested(self) -> None:
        with self._lock:
            self._pages_seen += 1

    def _forget(self, window_id: int) -> None:
        with self._lock:
            self._outlook.pop(window_id, None)

    def _put(self, item) -> None:
        if isinstance(item, WindowPage):
            item.observed_at = self.client.observed_at()  # this worker's last response: the page's
            with self._lock:
                self._listed += len(item.objects)
        while True:
            try:
                self._results.put(item, timeout=0.1)
                return
            except queue.Full:
                if self._stop.is_set() and item is not _DONE and not isinstance(item, _Failed):
                    return
