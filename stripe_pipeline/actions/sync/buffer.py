"""Rows staged for the next flush, written in one transaction with the backfill's checkpoint.

An object that cannot be synced (a hook raises, the database refuses a value) does not block
the table: it is kept in `_stripe_sync_errors`, written before the checkpoint that moves past
it, and resolved when the object later syncs cleanly. Under `strict`, it fails the run instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ...warehouse import UpsertResult, WarehouseError
from .mapping import storable

if TYPE_CHECKING:
    from ..mixins import StripeSyncActionMixin


class ObjectSyncError(RuntimeError):
    """One object could not be synced; the message names it (`customers/cus_123`) and the stage."""


class RowBuffer:
    def __init__(self, action: StripeSyncActionMixin):
        self._action = action
        self._rows: dict[str, dict] = {}
        self._tombstones: dict[str, dict] = {}
        self._failures: list[dict] = []  # objects for _stripe_sync_errors, written with the next flush
        self._has_open_errors: bool | None = None
        # Sync-state values that each flush saves with its rows (a running backfill's checkpoint).
        self.checkpoint: Callable[[], dict] | None = None

    def __len__(self) -> int:
        return len(self._rows) + len(self._tombstones)

    def stage(self, row: dict) -> None:
        self._rows[row["id"]] = row  # one row per ID: the last one staged wins
        self._tombstones.pop(row["id"], None)

    def stage_deletion(self, tombstone: dict) -> None:
        self._rows.pop(tombstone["id"], None)
        self._tombstones[tombstone["id"]] = tombstone

    def fail(self, stripe_data: dict, error: Exception, what: str) -> None:
        """Keep an object that cannot be synced for `_stripe_sync_errors`, or fail at once when strict."""
        action = self._action
        object_id = stripe_data.get("id") if isinstance(stripe_data.get("id"), str) else "(no id)"
        message = f"{what} for {action.table_name()}/{object_id}: {type(error).__name__}: {error}"
        if action.strict:
            raise ObjectSyncError(message) from error
        action.stats.failed += 1
        self._failures.append(
            {
                "object_id": object_id,
                "error_class": type(error).__name__,
                "error_message": message[:2000],
                "raw": action.redacted(stripe_data),
            }
        )

    def flush(self) -> UpsertResult:
        """Write the staged rows in one multi-row upsert and the staged deletions, in one
        transaction with the checkpoint when one is set."""
        action = self._action
        rows, self._rows = list(self._rows.values()), {}
        tombstones, self._tombstones = list(self._tombstones.values()), {}
        state = (action.table_name(), action.stripe_account, self.checkpoint()) if self.checkpoint else None
        self._record_failures()  # before a checkpoint that moves past them
        try:
            result, deleted = action.warehouse.write(action.table(), rows, tombstones, state=state)
        except WarehouseError as error:
            if action.strict or not error.refused_row:
                raise
            rows, result, deleted = self._write_row_by_row(rows, tombstones, state)
        if rows and self._may_have_open_errors():
            action.warehouse.resolve_errors(action.table_name(), action.stripe_account, [row["id"] for row in rows])
        action.stats.written += result
        action.stats.deleted += deleted
        return result

    def _write_row_by_row(self, rows: list[dict], tombstones: list[dict], state) -> tuple[list[dict], UpsertResult, int]:
        """A value the database refuses fails its whole statement: write row by row to find
        which rows it was, keep those in `_stripe_sync_errors`, and write the rest."""
        action = self._action
        written, result = [], UpsertResult()
        for row in rows:
            try:
                result += action.warehouse.write(action.table(), [row])[0]
                written.append(row)
            except WarehouseError as error:
                if not error.refused_row:
                    raise
                self.fail(row["_raw"], error, "the warehouse refused its row")
        self._record_failures()
        _, deleted = action.warehouse.write(action.table(), [], tombstones, state=state)
        return written, result, deleted

    def _record_failures(self) -> None:
        failures, self._failures = self._failures, []
        if not failures:
            return
        action = self._action
        try:
            action.warehouse.record_errors(action.table_name(), action.stripe_account, failures)
        except WarehouseError as error:
            if not error.refused_row:
                raise
            # The very value the table refused (a NUL character on PostgreSQL) is in the `_raw` too.
            action.warehouse.record_errors(action.table_name(), action.stripe_account, [{**f, "raw": storable(f["raw"])} for f in failures])
        self._has_open_errors = True

    def _may_have_open_errors(self) -> bool:
        """Whether this table may hold open errors that a clean sync resolves (asked once per buffer)."""
        if self._has_open_errors is None:
            action = self._action
            self._has_open_errors = action.warehouse.open_errors(action.table_name(), action.stripe_account) > 0
        return self._has_open_errors
