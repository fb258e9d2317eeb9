"""Rows staged for the next flush, written in one transaction with the backfill's checkpoint.

An object that cannot be synced (a hook raises, the database refuses a value) does not block
the table: it is kept in `_stripe_sync_errors`, written before the checkpoint that moves past
it, and resolved when the object later syncs cleanly. Under `strict`, it fails the run instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from ...models import account_key
from ...warehouse import UpsertResult, WarehouseError
from .declarations import reference_targets
from .mapping import full_row, mapping_plan, storable
from .protocol import RunState


class ObjectSyncError(RuntimeError):
    """One object could not be synced; the message names it (`customers/cus_123`) and the stage."""


class RowBuffer:
    def __init__(self, run: RunState):
        self._run = run
        self._rows: dict[str, dict] = {}
        self._tombstones: dict[str, dict] = {}
        self._failures: list[dict] = []  # objects for _stripe_sync_errors, written with the next flush
        self._has_open_errors: bool | None = None
        # Sync-state values that each flush saves with its rows (a running backfill's checkpoint).
        self.checkpoint: Callable[[], dict] | None = None

    def __len__(self) -> int:
        return len(self._rows) + len(self._tombstones)

    def add(self, row: dict) -> None:
        """Stage a mapped row (one per ID: the last one staged wins), NULL where it sets no value."""
        run, action = self._run, self._run.action
        plan = mapping_plan(action.table())
        if not row.keys() <= plan.column_set:
            raise ValueError(
                f"{type(action).__name__} produced values for columns that {action.table_name()} does not have: "
                f"{sorted(row.keys() - plan.column_set)}. Add them to {action.model_class.__name__} or drop them in post_set_default."
            )
        if run.references is not None:
            for name, target in reference_targets(type(action)):
                value = row.get(name)
                if isinstance(value, str) and value:
                    run.references.setdefault(target, set()).add(value)
        if row.get("_account") is None:  # a hook's own row: the key is the action's account
            row["_account"] = account_key(run.stripe_account)
        self._rows[row["id"]] = full_row(plan, row)
        self._tombstones.pop(row["id"], None)

    def add_deletion(self, stub: dict, now: datetime, observed_at: datetime) -> dict:
        """Stage `_deleted_at` for a deleted object's row; its data stays, and a table without
        its row gets none. Returns what is known of the row: the stub, every other column NULL."""
        tombstone = self.tombstone(stub, now, observed_at)
        self._rows.pop(stub["id"], None)
        self._tombstones[stub["id"]] = tombstone
        return dict.fromkeys(mapping_plan(self._run.action.table()).columns) | tombstone

    def tombstone(self, stub: dict, now: datetime, observed_at: datetime) -> dict:
        """What flags a row deleted (`Warehouse.write`'s tombstones), not staged."""
        return {
            "id": stub["id"],
            "_raw": stub,
            "_synced_at": now,
            "_deleted_at": now,
            "_account": account_key(self._run.stripe_account),
            "_observed_at": observed_at,
        }

    def fail(self, stripe_data: dict, error: Exception, what: str) -> None:
        """Keep an object that cannot be synced for `_stripe_sync_errors`, or fail at once when strict."""
        self._failures.append(self._failure(stripe_data, error, what))

    def _failure(self, stripe_data: dict, error: Exception, what: str) -> dict:
        run, action = self._run, self._run.action
        object_id = stripe_data.get("id") if isinstance(stripe_data.get("id"), str) else "(no id)"
        message = f"{what} for {action.table_name()}/{object_id}: {type(error).__name__}: {error}"
        if run.strict:
            raise ObjectSyncError(message) from error
        run.stats.failed += 1
        return {
            "object_id": object_id,
            "error_class": type(error).__name__,
            "error_message": message[:2000],
            "raw": action.redacted(stripe_data),
        }

    def flush(self) -> UpsertResult:
        """Write the staged rows and deletions now (see `take`)."""
        return self.take()()

    def take(self) -> PendingWrite:
        """What is staged, as a write to run now or later (actions/sync/writer.py): the rows and
        deletions in one multi-row upsert, in one transaction with the checkpoint when one is set
        (its values as of now, with the rows staged so far). The buffer starts empty again."""
        run, action = self._run, self._run.action
        pending = PendingWrite(
            self,
            account=run.stripe_account,
            rows=list(self._rows.values()),
            tombstones=list(self._tombstones.values()),
            failures=self._failures,
            state=(action.table_name(), run.stripe_account, self.checkpoint()) if self.checkpoint else None,
        )
        self._rows, self._tombstones, self._failures = {}, {}, []
        return pending

    def _write(self, pending: PendingWrite) -> UpsertResult:
        run, action = self._run, self._run.action
        rows, tombstones, state = pending.rows, pending.tombstones, pending.state
        self._record_failures(pending.failures, pending.account)  # before a checkpoint that moves past them
        try:
            result, deleted = run.warehouse.write(action.table(), rows, tombstones, state=state)
        except WarehouseError as error:
            if run.strict or not error.refused_row:
                raise
            rows, result, deleted = self._write_row_by_row(pending)
        if (rows or tombstones) and self._may_have_open_errors(pending.account):
            # Synced cleanly, or gone: either way nothing waits any more.
            synced = [row["id"] for row in rows] + [tombstone["id"] for tombstone in tombstones]
            run.warehouse.resolve_errors(action.table_name(), pending.account, synced)
        run.stats.written += result
        run.stats.deleted += deleted
        return result

    def _write_row_by_row(self, pending: PendingWrite) -> tuple[list[dict], UpsertResult, int]:
        """A value the database refuses fails its whole statement: write row by row to find
        which rows it was, keep those in `_stripe_sync_errors`, and write the rest."""
        run, action = self._run, self._run.action
        written, result, refused = [], UpsertResult(), []
        for row in pending.rows:
            try:
                result += run.warehouse.write(action.table(), [row])[0]
                written.append(row)
            except WarehouseError as error:
                if not error.refused_row:
                    raise
                refused.append(self._failure(row["_raw"], error, "the warehouse refused its row"))
        self._record_failures(refused, pending.account)
        _, deleted = run.warehouse.write(action.table(), [], pending.tombstones, state=pending.state)
        return written, result, deleted

    def _record_failures(self, failures: list[dict], account: str | None) -> None:
        if not failures:
            return
        run, action = self._run, self._run.action
        try:
            run.warehouse.record_errors(action.table_name(), account, failures)
        except WarehouseError as error:
            if not error.refused_row:
                raise
            # The very value the table refused (a NUL character on PostgreSQL) is in the `_raw` too.
            run.warehouse.record_errors(action.table_name(), account, [{**f, "raw": storable(f["raw"])} for f in failures])
        self._has_open_errors = True

    def _may_have_open_errors(self, account: str | None) -> bool:
        """Whether this table may hold open errors that a clean sync resolves (asked once per buffer)."""
        if self._has_open_errors is None:
            self._has_open_errors = self._run.warehouse.open_errors(self._run.action.table_name(), account) > 0
        return self._has_open_errors


@dataclass
class PendingWrite:
    """Staged rows and deletions, taken out of their buffer, to be written by calling it."""

    buffer: RowBuffer
    account: str | None
    rows: list[dict]
    tombstones: list[dict]  # may still grow before the write (children.py: children that vanished)
    failures: list[dict]
    state: tuple[str, str | None, dict] | None

    def __call__(self) -> UpsertResult:
        return self.buffer._write(self)
