"""A batch: the `sync` calls inside it stage their rows, which are written every `flush_every`
rows and once more at its end; outside one, each `sync` writes its row at once.

Batches nest (a backfill inside a run, a child table inside its parent's), and only the
outermost one starts the counts, opens the child tables and writes the rest at its end.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING

from ...warehouse.errors import failed_objects
from ..children import ChildSync
from .stats import SyncStats
from .writer import Writer

if TYPE_CHECKING:
    from ..mixins import StripeSyncActionMixin


class Batch:
    def __init__(self, action: StripeSyncActionMixin):
        self._action = action
        self._depth = 0
        self.writer = Writer(background=False)  # due flushes, in the background while a batch is open

    @property
    def is_open(self) -> bool:
        return self._depth > 0

    @contextmanager
    def open(self) -> Iterator[None]:
        action = self._action
        with ExitStack() as stack:
            if self._depth == 0:
                action.stats = SyncStats()
                self.writer = Writer(background=action.warehouse.writes_in_background)
                stack.callback(self._close_writer)  # after the last flush below
                # Before any request: a sync that finds nothing still leaves the table for SQL to query.
                action.warehouse.ensure_tables([action.table()])
                if action.chosen_children:
                    action.children = ChildSync(action, action.chosen_children)
                    stack.callback(action.children.close)  # after the last flush below
                    for child in action.children.actions:
                        stack.enter_context(child.batched())
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0:
                    action.flush()  # what was fetched before a failure is kept, not lost
                    _report_problems(action)

    def _close_writer(self) -> None:
        self.writer.close()
        self.writer = Writer(background=False)


def _report_problems(action: StripeSyncActionMixin) -> None:
    stats, table = action.stats, action.log_name
    if stats.failed:
        action.log.warning(f"{table}: {failed_objects(stats.failed)}")
    if stats.drifted:
        fields = ", ".join(f"{name} ({count:,})" for name, count in stats.drifted.most_common())
        action.log.warning(f"{table}: values that do not fit their column are NULL there, kept in _raw: {fields}")
