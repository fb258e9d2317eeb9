"""Stripe's wire format for parameters: `a[b]=1&c[0]=x` to and from nested values."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl

_PART = re.compile(r"\[([^\]]*)\]")


def decode_params(query: str) -> dict:
    """Nested dicts from a query string or form body. `k[0]`/`k[]` keys become lists."""
    result: dict = {}
    appended: dict[str, int] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key.endswith("[]"):  # `k[]=a&k[]=b` appends, like an indexed array
            appended[key] = appended.get(key, -1) + 1
            key = f"{key[:-2]}[{appended[key]}]"
        head, _, rest = key.partition("[")
        path = [head] + _PART.findall("[" + rest) if rest else [head]
        node = result
        for name in path[:-1]:
            node = node.setdefault(name, {})
            if not isinstance(node, dict):
                raise ValueError(f"Invalid array or hash: {key}")
        node[path[-1]] = value
    return _lists(result)


def _lists(node):
    # Stripe encodes arrays as indexed hashes: {"0": a, "1": b} -> [a, b].
    if not isinstance(node, dict):
        return node
    converted = {key: _lists(value) for key, value in node.items()}
    if converted and all(key.isdigit() for key in converted):
        return [converted[key] for key in sorted(converted, key=int)]
    return converted
