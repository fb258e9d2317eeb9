"""The sync's own state, behind one interface: the sync-state rows (checkpoints and cursors),
the sync locks, the request budget's slots, staged events and shared reads.

By default they live in the warehouse's database, beside the tables, as they always have. With
STATE_URL they live in a database of their own: a warehouse where a statement costs seconds
and money (Snowflake, BigQuery) cannot take a row update per API request, nor hold a lock.
Any SQLAlchemy URL of a supported dialect serves (a SQLite file, PostgreSQL, MySQL…).

Here rather than in a package of its own: the store is a database run with the warehouse's own
machinery (database.py: engine, dialect, transient retries, errors that name it), and the
modules it composes (state.py, locks.py, rate_budget.py, shared.py) are beside it. The sync's
errors (`_stripe_sync_errors`) stay with the tables: users query them beside the rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from ..models.sync_state import RequestSlot, SyncState
from ..settings import ConfigurationError
from . import shared
from .database import Database
from .dialects.base import SlotStore
from .engine import safe_url
from .locks import sync_lock
from .rate_budget import slot_store_for
from .state import all_states, load_state, oldest_events_cursor, save_state

STATE = SyncState.__table__
# The shared read that names the warehouse whose state a state database of its own keeps.
OWNER = "state owner"


class StateStore:
    """The state of the syncs into one warehouse. `database`: where it is kept (the warehouse's
    own Database when it shares it); `scope`: what the sync locks are named after (the
    warehouse's schema). `owner`, for a state database of its own: the warehouse it keeps the
    state of (its URL without the password, and its schema). The state rows are keyed by type
    and account only, so a second warehouse pointed at the same state would take the first
    one's cursors for its own and skip its backfill: the first sync names the owner, and
    another warehouse is refused (`check_owner`)."""

    def __init__(self, database: Database, scope: str, owner: str | None = None):
        self.database = database
        self.scope = scope
        self.owner = owner
        self._owner_checked = owner is None
        self._slot_store: SlotStore | None = None

    def check_owner(self) -> None:
        """Fail at once, saying what to do, when this state database keeps another warehouse's
        state; name this warehouse as its owner when it keeps none yet."""
        if self._owner_checked:
            return
        known = self.shared_read(OWNER)
        if known is None:
            self.save_shared_read(OWNER, None, {"warehouse": self.owner})
        elif known["value"].get("warehouse") != self.owner:
            raise ConfigurationError(
                f"STATE_URL ({safe_url(self.database.url)}) keeps the sync state of the warehouse "
                f"{known['value'].get('warehouse')}, not of {self.owner}: give each warehouse a state database, "
                "or a WAREHOUSE_SCHEMA, of its own. If it is the same warehouse at a new address, delete the row "
                f"'{OWNER}' from _stripe_shared_reads in the state database."
            )
        self._owner_checked = True

    def __repr__(self) -> str:
        return f"StateStore({safe_url(self.database.url)!r})"

    @property
    def url(self) -> str:
        return self.database.url

    @property
    def schema(self) -> str | None:
        return self.database.schema

    # -- sync-state rows (state.py, models/sync_state.py) ----------------------------------------

    def load_state(self, object_type: str, account: str | None) -> dict | None:
        self.check_owner()
        self.database.ensure_tables([STATE])
        return self.database.run("read the sync state", lambda connection: load_state(connection, object_type, account))

    def sync_states(self) -> list[dict]:
        self.database.ensure_tables([STATE])
        return self.database.run("read the sync states", all_states)

    def oldest_events_cursor(self, account: str | None) -> int | None:
        self.database.ensure_tables([STATE])
        return self.database.run("read the sync state", lambda connection: oldest_events_cursor(connection, account))

    def save_state(self, object_type: str, account: str | None, **values) -> None:
        self.check_owner()
        self.database.ensure_tables([STATE])
        self.database.run(
            "save the sync state", lambda connection: save_state(self.database.dialect, connection, object_type, account, values)
        )

    # -- sync locks (locks.py) --------------------------------------------------------------------

    @contextmanager
    def sync_lock(self, object_type: str, account: str | None, on_wait: Callable[[float], None]) -> Iterator[None]:
        """Only one sync of this object type and account at a time. While held, the lock is
        checked before every write, to the state and to the warehouse (Database.held_locks)."""
        self.check_owner()
        database = self.database
        name = f"{self.scope}.{object_type}.{account or 'platform'}"
        doing = f"take the sync lock of {object_type}"
        with sync_lock(
            database.dialect, database.engine, name, on_wait, retrying=lambda attempt: database.retrying(doing, attempt)
        ) as lock:
            database.held_locks.append(lock)
            try:
                yield
            finally:
                database.held_locks.remove(lock)

    # -- the request budget's slots (rate_budget.py) ----------------------------------------------

    def slot_store(self) -> SlotStore | None:
        """Where the request budget's slots are kept, shared by every process using this state
        (None in memory: then each client keeps its own)."""
        if self._slot_store is None:
            if self.database.dialect.slots_in_table:
                self.database.ensure_tables([RequestSlot.__table__])
            self._slot_store = slot_store_for(
                self.database.dialect, self.database.engine, lambda attempt: self.database.retrying("reserve a request slot", attempt)
            )
        return self._slot_store

    # -- what one step of a run reads for the others (shared.py) ---------------------------------

    def shared_read(self, name: str) -> dict | None:
        self.database.ensure_tables([shared.READS])
        return self.database.run("read a shared read", lambda connection: shared.load_read(connection, name))

    def save_shared_read(self, name: str, run_key: str | None, value: dict) -> None:
        self.database.ensure_tables([shared.READS])
        self.database.run(
            "save a shared read", lambda connection: shared.save_read(self.database.dialect, connection, name, run_key, value)
        )

    def stage_events(self, account: str | None, read: int, events: list[dict], first_position: int) -> None:
        self.database.ensure_tables([shared.EVENTS])
        self.database.run(
            "stage events", lambda connection: shared.stage_events(self.database.dialect, connection, account, read, events, first_position)
        )

    def last_event_read(self, account: str | None) -> int:
        self.database.ensure_tables([shared.EVENTS])
        return self.database.run("read the staged events", lambda connection: shared.last_read(connection, account))

    def staged_events(self, account: str | None, types: tuple[str, ...] | None, since: int, limit: int | None = None) -> list[dict]:
        self.database.ensure_tables([shared.EVENTS])
        return self.database.run(
            "read the staged events", lambda connection: list(shared.staged_events(connection, account, types, since, limit))
        )

    def drop_events_before(self, account: str | None, created: int) -> int:
        self.database.ensure_tables([shared.EVENTS])
        return self.database.run("drop staged events", lambda connection: shared.drop_events_before(connection, account, created))

    def close(self, *, engine: bool = True) -> None:
        """Close the request budget's connection, and (`engine`) the pool's, unless the
        warehouse that shares the database closes it."""
        store, self._slot_store = self._slot_store, None
        close = getattr(store, "close", None)
        if close is not None:
            close()
        if engine:
            self.database.close()
