"""What one run does, without Dagster: a table synced for every account it is read from, and
IDs synced by their prefix. The assets, the ID job and the `stripe-pipeline` command all run
these, so a sync from the shell is the sync the assets do.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .. import policies
from ..catalog.declarations import USUALLY_LARGEST
from ..stripe_api import RequestStats, StripeApiClient, StripeNotEnabled
from ..warehouse import Warehouse
from .mixins import StripeSyncActionMixin, SyncStats
from .registry import UnknownObjectType, action_for_id, action_for_type
from .related import sync_related

ClientFor = Callable[[str | None], StripeApiClient]  # a client for the account (None: the platform)
ActionClass = type[StripeSyncActionMixin]


def accounts_to_sync(
    spec: list[str] | str | None, client_for: ClientFor, *, warehouse: Warehouse | None = None, run_key: str | None = None
) -> list[str | None]:
    """The platform (None), then each connected account `spec` (STRIPE_ACCOUNTS, parsed) names;
    `all` is every account /v1/accounts lists. With a `warehouse` and a `run_key`, listed once
    per run: the run's other steps read what the first one listed (`_stripe_shared_reads`)."""
    if spec is None:
        return [None]
    if spec != "all":
        return [None, *spec]
    if warehouse is None or run_key is None:
        return [None, *_list_accounts(client_for)]
    with warehouse.sync_lock("_stripe_accounts", None, lambda seconds: None):
        shared = warehouse.shared_read("accounts")
        if shared is not None and shared["run_key"] == run_key:
            return [None, *shared["value"]["ids"]]
        ids = _list_accounts(client_for)
        warehouse.save_shared_read("accounts", run_key, {"ids": ids})
        return [None, *ids]


def _list_accounts(client_for: ClientFor) -> list[str]:
    return [account["id"] for page in client_for(None).list_pages("/v1/accounts", {"limit": 100}) for account in page]


def goes_first(action: ActionClass) -> int | None:
    """Its rank among the types whose listing gets its endpoint's cap before the others' (the
    usually largest: catalog/declarations.py), or None."""
    first = USUALLY_LARGEST[: policies.RANKS_THAT_GO_FIRST]
    return first.index(action.object_name()) if action.object_name() in first else None


@dataclass
class TableRun:
    """One table's run over every account: the totals, the child tables' own, the requests,
    and the accounts skipped because they lack that part of Stripe."""

    totals: SyncStats = field(default_factory=SyncStats)
    children: dict[str, SyncStats] = field(default_factory=dict)
    requests: RequestStats = field(default_factory=RequestStats)
    skipped: list[str] = field(default_factory=list)
    synced: bool = False  # at least one account was synced


def run_table(
    action: ActionClass,
    *,
    client_for: ClientFor,
    warehouse: Warehouse,
    accounts: list[str | None],
    logger: Any,
    children: list[str] | None = None,
    strict: bool = False,
    on_start: Callable[[StripeSyncActionMixin], None] | None = None,
    run_key: str | None = None,
    **modes: bool,
) -> TableRun:
    """`sync_incremental(**modes)` (reconcile, trust_event_payloads, full_refresh) for each
    account in turn; `on_start(sync)` sees each account's action before it runs (to watch its
    `stats`). `run_key`: the run this table is a step of, whose steps share each account's events."""
    run = TableRun(children={name: SyncStats() for name in children or []})
    for account in accounts:
        client = client_for(account)
        client.budget.rank = goes_first(action)
        sync = action(client=client, warehouse=warehouse, logger=logger, children=children, strict=strict)
        if on_start is not None:
            on_start(sync)
        try:
            stats = sync.sync_incremental(run_key=run_key, **modes)
        except StripeNotEnabled as reason:
            logger.info(f"{action.table_name()}: skipped for {account or 'the platform'}: {reason}")
            run.skipped.append(f"{account or 'platform'}: {reason}")
            continue
        finally:
            run.requests.count(**client.stats.as_dict())
        run.totals += stats
        for name, child_stats in sync.child_stats.items():
            run.children[name] += child_stats
        run.synced = True
    for child in run.children.values():
        child.modes = list(run.totals.modes)  # children sync in their parent's runs
    return run


def count_at_stripe(action: ActionClass, *, client_for: ClientFor, accounts: list[str | None]) -> int:
    """How many objects of the type Stripe lists, over the accounts, by walking its list; an
    account without that part of Stripe has none. Writes nothing (the `matches_stripe` check)."""
    listed = 0
    for account in accounts:
        client = client_for(account)
        try:
            listed += sum(len(page) for page in client.list_pages(action.api_path(), {**action.list_params, "limit": 100}))
        except StripeNotEnabled:
            continue
    return listed


def plan_id_sync(
    actions: list[ActionClass], ids: list[str], object_type: str | None
) -> tuple[dict[ActionClass, list[str]], dict[str, str]]:
    """Group IDs by action; IDs whose type cannot be told are returned with the reason."""
    groups: dict[ActionClass, list[str]] = defaultdict(list)
    problems: dict[str, str] = {}
    explicit = action_for_type(actions, object_type) if object_type else None
    for raw_id in ids:
        object_id = raw_id.strip()
        if not object_id:
            continue
        try:
            groups[explicit or action_for_id(actions, object_id)].append(object_id)
        except UnknownObjectType as error:
            problems[object_id] = str(error)
    return dict(groups), problems


@dataclass
class IdRun:
    """One action's share of an ID sync: the IDs synced, and what their rows refer to."""

    sync: StripeSyncActionMixin
    stats: SyncStats
    synced: list[str]
    related: dict[ActionClass, SyncStats]


def sync_ids(
    actions: list[ActionClass],
    groups: dict[ActionClass, list[str]],
    problems: dict[str, str],
    *,
    client_for: ClientFor,
    warehouse: Warehouse,
    logger: Any,
    related: bool = True,
    account: str | None = None,
    on_start: Callable[[StripeSyncActionMixin], None] | None = None,
) -> Iterator[IdRun]:
    """`sync_by_ids` per action of `groups` (plan_id_sync), then, if `related`, the objects
    their rows refer to that the warehouse lacks. IDs Stripe does not know go into `problems`.
    `account`: the Connect account the IDs belong to (None: the platform)."""
    for action, ids in groups.items():
        client = client_for(account)
        sync = action(client=client, warehouse=warehouse, logger=logger)
        if related:
            sync.track_references()
        if on_start is not None:
            on_start(sync)
        stats = sync.sync_by_ids(ids)
        done = sync_related(sync, actions, functools.partial(_make, client=client, warehouse=warehouse, logger=logger))
        missing = set(stats.missing_ids)
        where = f" in account {account}" if account else ""
        for object_id in stats.missing_ids:
            problems[object_id] = f"Stripe has no {action.object_name()} with this ID{where}."
        yield IdRun(sync=sync, stats=stats, synced=[i for i in ids if i not in missing], related=done)


def _make(action: ActionClass, **arguments: Any) -> StripeSyncActionMixin:
    return action(**arguments)
