"""The emulator's state: every object by type, a clock, and the mutations tests use."""

from __future__ import annotations

import random
import string
import threading
import time
from collections.abc import Callable, Mapping

from stripe_pipeline.catalog import API_VERSION, CHILD_TABLES, TYPES, ChildTable, ObjectType
from stripe_pipeline.catalog.declarations import ANNOUNCED_BY

from . import generic, objects, timelines
from .collection import Collection
from .errors import ApiError, no_such
from .resources import RESOURCE_BY_OBJECT, RESOURCES
from .timelines import Timeline

# Emulator time starts here so seeded data is the same on every run and machine.
EPOCH = 1_767_225_600  # 2026-01-01T00:00:00Z
# Stripe keeps events for 30 days.
EVENT_RETENTION_SECONDS = 30 * 86_400
_BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
# A parent embeds the first page of its child lists (an invoice's first 10 lines) with has_more.
EMBEDDED_PAGE = 10
_CHILD_TYPES = {child.child.object_name: child.child for child in CHILD_TABLES.values()}


def object_type(object_name: str) -> ObjectType:
    return TYPES.get(object_name) or _CHILD_TYPES[object_name]


class Clock:
    """Emulator time: EPOCH plus real elapsed time plus whatever tests add with `advance`."""

    def __init__(self, start: int = EPOCH):
        self._start = start
        self._started_at = time.monotonic()
        self._offset = 0.0

    def now(self) -> int:
        return int(self._start + (time.monotonic() - self._started_at) + self._offset)

    def advance(self, seconds: float) -> None:
        self._offset += seconds


class Store:
    """Objects by type, and an event for every create, update and delete.

    Seeded objects are history from before the events window: they have no events, as an
    account's objects older than 30 days have none on the real API.
    """

    def __init__(self, clock: Clock | None = None, seed: int = 42, event_retention: float = EVENT_RETENTION_SECONDS):
        self.clock = clock or Clock()
        self.lock = threading.RLock()
        self.collections = {path: Collection(r.object_name, path) for path, r in RESOURCES.items()}
        self.events = self.collections["events"]
        self.event_retention = event_retention
        self._deleted_stubs: dict[str, dict] = {}
        self._rng = random.Random(seed)
        self._event_sequence = 0
        # Child lists under a parent's URL (an invoice's lines): table -> parent ID -> objects.
        self.children: dict[str, dict[str, list[dict]]] = {table: {} for table in CHILD_TABLES}

    def collection_for(self, object_name: str) -> Collection:
        return self.collections[RESOURCE_BY_OBJECT[object_name].path]

    def seed(self, counts: Mapping[str, int], seed: int = 42, timeline: str | Timeline = "even") -> None:
        """Load deterministic, realistic data: `counts` by object name, e.g. {"customer": 1000},
        created as `timeline` says (a name from timelines.TIMELINES, or a Timeline)."""
        rich = {name: count for name, count in counts.items() if name in objects.SEED_ORDER}
        rest = {name: count for name, count in counts.items() if name not in rich}
        unknown = set(rest) - set(TYPES) - set(CHILD_TABLES) - set(_CHILD_TYPES)
        if unknown:
            raise ValueError(f"Cannot seed {sorted(unknown)}: not a catalogued object type or child table")
        batches: dict[str, list[dict]] = {}
        for obj in objects.generate(rich, seed=seed, now=self.clock.now(), timeline=timeline):
            batches.setdefault(obj["object"], []).append(obj)
        with self.lock:
            filed: dict[str, list[dict]] = {}
            for object_name, batch in batches.items():
                self.collection_for(object_name).add_many(batch)
                for obj in batch:
                    for child_object in self._file_embedded_children(obj):
                        filed.setdefault(child_object["object"], []).append(child_object)
            for object_name, batch in filed.items():
                self.collection_for(object_name).add_many(batch)
            self._seed_generic(rest, seed, timeline)

    def _seed_generic(self, counts: dict[str, int], seed: int, timeline: str | Timeline) -> None:
        """Types without a rich builder, parents before what refers to them; then child lists."""
        rng = random.Random(f"{seed}:generic")
        quantile = timelines.timeline(timeline).quantile(self.clock.now())
        names = sorted((name for name in counts if name in TYPES or name in _CHILD_TYPES), key=_reference_depth)
        for name in names:
            kind = object_type(name)
            total = counts[name]
            batch = [
                generic.build(kind, rng, id=generic.new_id(rng, kind), created=quantile((i + rng.random()) / total), pick=self._picker(rng))
                for i in range(total)
            ]
            self.collection_for(name).add_many(batch)
        for table in (name for name in counts if name in CHILD_TABLES):
            child = CHILD_TABLES[table]
            parents = self.collection_for(child.parent)
            if not len(parents):
                raise ValueError(f"Cannot seed {table}: seed some {child.parent} objects first")
            for _ in range(counts[table]):
                parent_id = parents.random_id(rng)
                self.add_children(table, parent_id, [self._child(child, parent_id, rng)])

    def _picker(self, rng: random.Random):
        def pick(object_name: str) -> str | None:
            resource = RESOURCE_BY_OBJECT.get(object_name)
            collection = self.collections.get(resource.path) if resource else None
            return collection.random_id(rng) if collection is not None and len(collection) else None

        return pick

    def _child(self, child: ChildTable, parent_id: str, rng: random.Random) -> dict:
        kind = child.child
        obj = generic.build(kind, rng, id=generic.new_id(rng, kind), created=self.clock.now(), pick=self._picker(rng))
        if child.parent_column in obj or child.parent_param:
            obj[child.parent_column] = parent_id
        return obj

    def add_children(self, table: str, parent_id: str, children: list[dict]) -> None:
        """Append objects to a parent's child list; the parent embeds the first page, as Stripe's do."""
        child = CHILD_TABLES[table]
        with self.lock:
            if child.parent_param:  # listed by a filter on the parent's ID
                collection = self.collection_for(child.child.object_name)
                for obj in children:
                    collection.put({**obj, child.parent_param: parent_id})
                everything = [obj for obj in collection.objects.values() if obj.get(child.parent_param) == parent_id]
            else:
                everything = self.children[table].setdefault(parent_id, [])
                everything.extend(children)
            if child.embedded:
                parents = self.collection_for(child.parent)
                parent = parents.objects.get(parent_id)
                if parent is not None:
                    parents.put({**parent, child.embedded: _embedded_page(parent.get(child.embedded), everything)})

    def child_list(self, table: str, parent_id: str) -> list[dict]:
        return self.children[table].get(parent_id, [])

    def _file_embedded_children(self, parent: dict) -> list[dict]:
        """A rich builder embeds the whole child list: keep it as the child list and embed its
        first page. Returns the children that list by a filter, for their own collection."""
        listed_by_filter: list[dict] = []
        for child in _EMBEDDING.get(parent["object"], ()):
            page = parent.get(child.embedded)
            if isinstance(page, dict) and page.get("data"):
                data = page["data"]
                if child.parent_param:
                    listed_by_filter.extend({**obj, child.parent_param: parent["id"]} for obj in data)
                else:
                    self.children[child.table][parent["id"]] = list(data)
                if len(data) > EMBEDDED_PAGE:
                    parent[child.embedded] = _embedded_page(page, data)
        return listed_by_filter

    def table_count(self, table: str) -> int:
        """How many objects this account holds for a warehouse table (child tables included)."""
        child = CHILD_TABLES.get(table)
        if child is None:
            return len(self.collection_for(next(t.object_name for t in TYPES.values() if t.table == table)))
        if child.parent_param:
            return len(self.collection_for(child.child.object_name))
        return sum(len(children) for children in self.children[table].values())

    def counts(self) -> dict[str, int]:
        return {path: len(collection) for path, collection in self.collections.items() if path != "events"}

    def expire_events(self) -> None:
        """Forget events older than the retention window, as Stripe does after 30 days."""
        with self.lock:
            self.events.remove_older_than(self.clock.now() - self.event_retention)

    def find(self, object_id: str) -> tuple[Collection, dict] | None:
        for collection in self.collections.values():
            obj = collection.objects.get(object_id)
            if obj is not None:
                return collection, obj
        return None

    def retrieve(self, path: str, object_id: str) -> dict:
        collection = self.collections[path]
        with self.lock:
            if object_id in collection.objects:
                return collection.objects[object_id]
            stub = self._deleted_stubs.get(object_id)
            if stub is not None and RESOURCES[path].on_delete == "stub":
                return stub
        raise no_such(collection.object_name, object_id)

    # -- mutations, for tests and for users trying their hooks offline -------------------------

    def create(self, object_name: str, *, coerce: Callable[[dict, dict], dict] | None = None, **fields) -> dict:
        """A new object of the type, created now, with `fields` over the generated defaults.
        `coerce(new_object, fields)` may check and convert the fields first (the HTTP API does).
        `id` picks the ID where Stripe lets the caller choose it (coupons, products)."""
        build = objects.BUILDERS.get(object_name) or self._generic_builder(object_name)
        resource = RESOURCE_BY_OBJECT[object_name]
        with self.lock:
            object_id = fields.pop("id", None)
            if object_id is not None and not resource.custom_ids:
                raise ApiError(400, "Received unknown parameter: id", code="parameter_unknown", param="id")
            collection = self.collection_for(object_name)
            if object_id in collection.objects:
                raise ApiError(400, f"{object_name.capitalize()} already exists.", code="resource_already_exists", param="id")
            object_id = object_id or (
                objects.new_id(self._rng, object_name)
                if object_name in objects.ID_PREFIXES
                else generic.new_id(self._rng, object_type(object_name))
            )
            obj = build(self._rng, id=object_id, created=self.clock.now(), **self._parents(object_name))
            obj.update(coerce(obj, fields) if coerce else fields)
            self._deleted_stubs.pop(object_id, None)
            return self._file(obj, created=None)

    def add(self, obj: dict) -> dict:
        """File an object built whole elsewhere (scenarios.py), as created at its `created`."""
        with self.lock:
            return self._file(obj, created=obj.get("created"))

    def _file(self, obj: dict, created: int | None) -> dict:
        """Keep a new object and its embedded children, and record its `created` event (at
        `created`, or now)."""
        resource = RESOURCE_BY_OBJECT[obj["object"]]
        self.collection_for(obj["object"]).put(obj)
        for child_object in self._file_embedded_children(obj):
            self.collection_for(child_object["object"]).put(child_object)
        event_type = resource.event_type("created")
        if event_type:
            self._record(event_type, obj, created=created)
        self._announce(obj, created)
        return obj

    def _announce(self, obj: dict, created: int | None = None) -> None:
        """The event that comes along with a change to a type Stripe sends no events about
        (declarations.ANNOUNCED_BY: a balance transaction's `balance.available`, about the
        account's balance: the emulator's stand-in for the charge or payout that made it)."""
        announced_by = ANNOUNCED_BY.get(obj["object"])
        if announced_by:
            balance = {"object": "balance", "livemode": False, "available": [], "pending": []}
            self._record(announced_by, balance, created=created)

    def update(self, object_id: str, **fields) -> dict:
        with self.lock:
            found = self.find(object_id)
            if found is None:
                raise no_such("object", object_id)
            collection, obj = found
            updated = _merge(obj, fields)
            collection.put(updated)
            previous = {name: obj.get(name) for name in updated if updated[name] != obj.get(name)}
            event_type = RESOURCES[collection.path].event_type("updated", previous, updated) if previous else None
            if event_type:
                self._record(event_type, updated, previous)
            if previous:
                self._announce(updated)
            return updated

    def delete(self, object_id: str) -> dict:
        """What DELETE does to the object's type (see Resource.on_delete)."""
        with self.lock:
            found = self.find(object_id)
            if found is None:
                raise no_such("object", object_id)
            collection, _ = found
            on_delete = RESOURCES[collection.path].on_delete
            if on_delete is None:
                raise ApiError(400, f"A {collection.object_name} cannot be deleted.")
            resource = RESOURCES[collection.path]
            if on_delete == "cancel":
                # A canceled subscription stays; Stripe still calls the event `….deleted`.
                now = self.clock.now()
                canceled = _merge(collection.objects[object_id], {"status": "canceled", "canceled_at": now, "ended_at": now})
                collection.put(canceled)
                self._record(resource.event_named("deleted"), canceled)
                return canceled
            last_state = collection.remove(object_id)
            stub = {"id": object_id, "object": collection.object_name, "deleted": True}
            self._deleted_stubs[object_id] = stub
            self._record(resource.event_named("deleted"), last_state)
            return stub

    def emit_event(self, event_type: str, obj: dict, *, created: int | None = None, previous_attributes: dict | None = None) -> dict:
        """Record an event without changing any object, e.g. one that shows up late with an
        older `created`, as Stripe does not promise events appear in order."""
        with self.lock:
            return self._record(event_type, obj, previous_attributes, created=created)

    def _record(self, event_type: str, obj: dict, previous_attributes: dict | None = None, created: int | None = None) -> dict:
        """Append the event Stripe would emit for this change, in Stripe's event shape."""
        self._event_sequence += 1
        data = {"object": obj}
        if previous_attributes is not None:
            data["previous_attributes"] = previous_attributes
        event = {
            "id": self._event_id(),
            "object": "event",
            "api_version": API_VERSION,
            "created": self.clock.now() if created is None else created,
            "data": data,
            "livemode": False,
            "pending_webhooks": 0,
            "request": {"id": None, "idempotency_key": None},
            "type": event_type,
        }
        self.events.put(event)
        return event

    def _event_id(self) -> str:
        # A growing sequence first: events of the same second list in the order they happened.
        sequence, digits = self._event_sequence, []
        for _ in range(9):
            sequence, digit = divmod(sequence, 62)
            digits.append(_BASE62[digit])
        return "evt_1" + "".join(reversed(digits)) + "".join(self._rng.choices(_BASE62, k=14))

    def _generic_builder(self, object_name: str):
        kind = object_type(object_name)

        def build(rng: random.Random, *, id: str, created: int) -> dict:
            return generic.build(kind, rng, id=id, created=created, pick=self._picker(rng))

        return build

    def _parents(self, object_name: str) -> dict:
        """References a new object needs, picked among existing objects (made when missing)."""

        def pick(parent: str) -> dict:
            collection = self.collection_for(parent)
            if not collection.objects:
                return self.create(parent)
            return collection.objects[self._rng.choice(list(collection.objects))]

        if object_name == "price":
            return {"product": pick("product")["id"]}
        if object_name == "subscription":
            return {"customer": pick("customer")["id"], "prices": [pick("price")], "status": "active"}
        if object_name == "invoice":
            return {"customer": pick("customer")["id"], "subscription": None, "lines_from_prices": [pick("price")]}
        if object_name in ("payment_intent", "charge"):
            extra = {"invoice": None} if object_name == "payment_intent" else {"payment_intent": None}
            return {"customer": pick("customer")["id"], "amount": 2000, "currency": "usd", **extra}
        return {}


def _merge(obj: dict, fields: dict) -> dict:
    """Stripe-style update: metadata merges key by key ("" removes a key), other fields replace."""
    updated = dict(obj)
    for name, value in fields.items():
        if name == "metadata" and isinstance(value, dict):
            metadata = dict(obj.get("metadata") or {})
            for key, item in value.items():
                if item in ("", None):
                    metadata.pop(key, None)
                else:
                    metadata[key] = item
            updated["metadata"] = metadata
        else:
            updated[name] = value
    return updated


_EMBEDDING: dict[str, list[ChildTable]] = {}
for _child in CHILD_TABLES.values():
    if _child.embedded:
        _EMBEDDING.setdefault(_child.parent, []).append(_child)


def _embedded_page(page: dict | None, everything: list[dict]) -> dict:
    page = dict(page or {"object": "list", "url": ""})
    page.update(data=everything[:EMBEDDED_PAGE], has_more=len(everything) > EMBEDDED_PAGE, total_count=len(everything))
    return page


def _reference_depth(object_name: str) -> int:
    """How many levels of references a type has below it, so parents are seeded first."""
    seen: set[str] = set()

    def depth(name: str) -> int:
        if name in seen or (name not in TYPES and name not in _CHILD_TYPES):
            return 0
        seen.add(name)
        targets = [f.detail for f in object_type(name).fields if f.kind == "reference" and isinstance(f.detail, str)]
        return 1 + max((depth(t) for t in targets), default=0)

    return depth(object_name)
