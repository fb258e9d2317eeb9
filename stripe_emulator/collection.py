"""One list endpoint's objects, with the real list semantics.

Objects are kept sorted by (created, id); lists walk that order backwards (newest first),
and cursors work by key, so a cursor stays valid after its object is deleted.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Callable, Iterator

from .errors import ApiError, invalid_integer, no_such

Predicate = Callable[[dict], bool]


class Collection:
    def __init__(self, object_name: str, path: str):
        self.object_name = object_name
        self.path = path
        self.objects: dict[str, dict] = {}
        self._keys: list[tuple[int, str]] = []  # ascending (created, id)
        self._known_keys: dict[str, tuple[int, str]] = {}  # also for deleted objects
        self._json: dict[str, str] = {}  # serialised once, listed many times

    def __len__(self) -> int:
        return len(self.objects)

    def add_many(self, objects: list[dict]) -> None:
        """Bulk load (seeding): one sort instead of one insertion per object."""
        for obj in objects:
            self.objects[obj["id"]] = obj
            self._known_keys[obj["id"]] = (_created(obj), obj["id"])
        self._keys = sorted(self._known_keys[object_id] for object_id in self.objects)

    def put(self, obj: dict) -> None:
        object_id = obj["id"]
        if object_id in self.objects:
            self.objects[object_id] = obj
        else:
            key = (_created(obj), object_id)
            self.objects[object_id] = obj
            self._known_keys[object_id] = key
            bisect.insort(self._keys, key)
        self._json.pop(object_id, None)

    def remove(self, object_id: str) -> dict:
        obj = self.objects.pop(object_id)
        key = self._known_keys[object_id]
        del self._keys[bisect.bisect_left(self._keys, key)]
        self._json.pop(object_id, None)
        return obj

    def remove_older_than(self, created: float) -> None:
        """Drop every object created before `created`, cursors included (expired events)."""
        cut = bisect.bisect_left(self._keys, (created, ""))
        for _, object_id in self._keys[:cut]:
            self.objects.pop(object_id, None)
            self._known_keys.pop(object_id, None)
            self._json.pop(object_id, None)
        del self._keys[:cut]

    def random_id(self, rng) -> str:
        return rng.choice(self._keys)[1]

    def get(self, object_id: str) -> dict:
        try:
            return self.objects[object_id]
        except KeyError:
            raise no_such(self.object_name, object_id) from None

    def json_of(self, object_id: str) -> str:
        cached = self._json.get(object_id)
        if cached is None:
            cached = self._json[object_id] = json.dumps(self.objects[object_id], separators=(",", ":"))
        return cached

    def page(
        self,
        *,
        limit: int,
        starting_after: str | None = None,
        ending_before: str | None = None,
        created: dict[str, int] | None = None,
        predicate: Predicate | None = None,
    ) -> tuple[list[str], bool]:
        """IDs of one page, newest first, and whether more objects follow in the walk's direction."""
        low, high = self._created_bounds(created or {})
        if starting_after is not None:
            high = min(high, bisect.bisect_left(self._keys, self._cursor_key(starting_after, "starting_after")))
        if ending_before is not None:
            low = max(low, bisect.bisect_right(self._keys, self._cursor_key(ending_before, "ending_before")))
        # ending_before pages towards newer objects: walk up from the cursor, then present newest first.
        walk = range(low, high) if ending_before is not None else range(high - 1, low - 1, -1)
        ids: list[str] = []
        has_more = False
        for object_id in self._matching(walk, predicate):
            if len(ids) == limit:
                has_more = True
                break
            ids.append(object_id)
        if ending_before is not None:
            ids.reverse()
        return ids, has_more

    def _matching(self, walk: range, predicate: Predicate | None) -> Iterator[str]:
        for index in walk:
            object_id = self._keys[index][1]
            if predicate is None or predicate(self.objects[object_id]):
                yield object_id

    def _cursor_key(self, object_id: str, param: str) -> tuple[int, str]:
        try:
            return self._known_keys[object_id]
        except KeyError:
            raise no_such(self.object_name, object_id, param=param) from None

    def _created_bounds(self, created: dict[str, int]) -> tuple[int, int]:
        low, high = 0, len(self._keys)
        for operator, value in created.items():
            if operator == "gt":
                low = max(low, bisect.bisect_right(self._keys, (value, "\uffff")))
            elif operator == "gte":
                low = max(low, bisect.bisect_left(self._keys, (value, "")))
            elif operator == "lt":
                high = min(high, bisect.bisect_left(self._keys, (value, "")))
            elif operator == "lte":
                high = min(high, bisect.bisect_right(self._keys, (value, "\uffff")))
            else:
                raise ApiError(400, f"Received unknown parameter: created[{operator}]", param=f"created[{operator}]")
        return low, high


def parse_created(value: object) -> dict[str, int]:
    """`created=123` or `created[gte]=…` into {operator: int}."""
    if isinstance(value, dict):
        return {operator: _int(f"created[{operator}]", raw) for operator, raw in value.items()}
    exact = _int("created", value)
    return {"gte": exact, "lte": exact}


def _int(param: str, value: object) -> int:
    try:
        return int(str(value))
    except ValueError:
        raise invalid_integer(param, value) from None


def _created(obj: dict) -> int:
    # A few types have no `created` (terminal locations, payment links); they list by ID.
    created = obj.get("created")
    return created if isinstance(created, int) else 0
