"""Write `openapi_facts.json`: what generate.py needs from Stripe's OpenAPI description and the
`stripe` package cannot say, which integer fields of each object are Unix times.

The package is generated from that description, but its classes type a Unix time as a plain
`int`; the description marks it `format: unix-time`. The description is megabytes and neither
the runtime nor the tests may read outside the repository, so only these facts are committed,
with the description's API version and where it came from:

    python tools/catalog/openapi_facts.py path/to/spec3.json --source stripe/openapi@<commit>

Take the description of the API version the pinned `stripe` release is generated for
(`python -c "import stripe; print(stripe.api_version)"`; its `info.version`), from
https://github.com/stripe/openapi (`openapi/spec3.json`), then run generate.py.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

TARGET = Path(__file__).with_name("openapi_facts.json")


def facts(spec: dict, source: str) -> dict:
    """For each object (a schema with an `x-resourceId`), its top-level integer fields: the Unix
    times and the other integers. A field the description does not list is left to generate.py's guess."""
    objects = {}
    for schema in spec["components"]["schemas"].values():
        name = schema.get("x-resourceId")
        if not name:
            continue
        integers = {field: prop for field, prop in schema.get("properties", {}).items() if prop.get("type") == "integer"}
        objects[name] = {
            "unix_time": sorted(field for field, prop in integers.items() if prop.get("format") == "unix-time"),
            "integer": sorted(field for field, prop in integers.items() if prop.get("format") != "unix-time"),
        }
    return {"api_version": spec["info"]["version"], "source": source, "objects": dict(sorted(objects.items()))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("spec", type=Path, help="Stripe's OpenAPI description (spec3.json)")
    parser.add_argument("--source", required=True, help="where it came from: stripe/openapi@<commit>")
    args = parser.parse_args()
    found = facts(json.loads(args.spec.read_text()), args.source)
    TARGET.write_text(json.dumps(found, indent=1) + "\n")
    print(f"wrote {TARGET}: {len(found['objects'])} objects of API version {found['api_version']}")


if __name__ == "__main__":
    main()
