"""The committed catalogue is what its generator writes from the installed `stripe` package and
the committed OpenAPI facts: neither the package nor the facts can move without it."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

from stripe_pipeline.catalog import CATALOGUE, TYPES

TOOL = Path(__file__).resolve().parents[2] / "tools" / "catalog" / "generate.py"


def _generator():
    spec = importlib.util.spec_from_file_location("catalog_generate", TOOL)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_the_committed_catalogue_is_what_the_installed_package_and_the_openapi_facts_say():
    generate = _generator()
    assert generate.TARGET.read_text() == generate.render(generate.build()), (
        f"the stripe package or tools/catalog/openapi_facts.json changed: run {generate.COMMAND}"
    )


def test_the_runtime_reads_the_committed_file_as_the_generator_wrote_it():
    generate = _generator()
    committed = json.loads(generate.TARGET.read_text())
    assert CATALOGUE["api_version"] == committed["api_version"] and set(TYPES) <= set(committed["types"])
    # Lists are read as tuples, as the generated module's literals were: fields are hashed.
    assert all(isinstance(spec, tuple) for entry in CATALOGUE["types"].values() for spec in entry["fields"])
    assert {field.name for field in TYPES["refund"].fields} == {spec[0] for spec in committed["types"]["refund"]["fields"]}
