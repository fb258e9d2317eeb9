"""The emulator's state: every object by type, a clock, and the mutations tests use."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping

from . import objects
from .collection import Collection
from .errors import ApiError, no_such
from .resources import RESOURCE_BY_OBJECT, RESOURCES

# Emulator time starts here so seeded data is the same on every run and machine.
EPOCH = 1_767_225_600  # 2026-01-01T00:00:00Z


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
    def __init__(self, clock: Clock | None = None, seed: int = 42):
        self.clock = clock or Clock()
        self.lock = threading.RLock()
        self.collections = {path: Collection(r.object_name, path) for path, r in RESOURCES.items()}
        self._deleted_stubs: dict[str, dict] = {}
        self._rng = random.Random(seed)

    def collection_for(self, object_name: str) -> Collection:
        return self.collections[RESOURCE_BY_OBJECT[object_name].path]

    def seed(self, counts: Mapping[str, int], seed: int = 42) -> None:
        """Load deterministic, realistic data: `counts` by object name, e.g. {"customer": 1000}."""
        batches: dict[str, list[dict]] = {}
        for obj in objects.generate(dict(counts), seed=seed, now=self.clock.now()):
            batches.setdefault(obj["object"], []).append(obj)
        with self.lock:
            for object_name, batch in batches.items():
                self.collection_for(object_name).add_many(batch)

    def counts(self) -> dict[str, int]:
        return {path: len(collection) for path, collection in self.collections.items()}

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
        `coerce(new_object, fields)` may check and convert the fields first (the HTTP API does)."""
        build = getattr(objects, f"build_{object_name}")
        with self.lock:
            obj = build(self._rng, id=objects.new_id(self._rng, object_name), created=self.clock.now(), **self._parents(object_name))
            obj.update(coerce(obj, fields) if coerce else fields)
            self.collection_for(object_name).put(obj)
            return obj

    def update(self, object_id: str, **fields) -> dict:
        with self.lock:
            found = self.find(object_id)
            if found is None:
                raise no_such("object", object_id)
            collection, obj = found
            updated = _merge(obj, fields)
            collection.put(updated)
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
            if on_delete == "cancel":
                now = self.clock.now()
                return self.update(object_id, status="canceled", canceled_at=now, ended_at=now)
            collection.remove(object_id)
            stub = {"id": object_id, "object": collection.object_name, "deleted": True}
            self._deleted_stubs[object_id] = stub
            return stub

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
