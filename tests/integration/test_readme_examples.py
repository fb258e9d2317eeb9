"""The code blocks of the README, of docs/ and of CONTRIBUTING.md run as written, as a user
pastes them: every example a user can copy, wherever it lives.

- Every `python` block runs on its own in a fresh interpreter, configured as the README says
  (STRIPE_API_KEY, STRIPE_API_BASE at the emulator, WAREHOUSE_URL), in a folder of its own.
- Every `yaml` block is run config of a job (its `ops:`), and is valid config of that job.
- Every `stripe-pipeline …` line of a `sh` block parses with the command's own arguments.
  (The README's two commands are what CI runs; `dagster dev` and the emulator serve forever.)
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
import yaml

from stripe_pipeline.actions import ALL_ACTIONS
from stripe_pipeline.cli.main import parser
from stripe_pipeline.dagster_defs.factory import build_definitions

from .conftest import user_environment

ROOT = Path(__file__).parents[2]
PAGES = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCKS = [
    (m.group(1), m.group(2), f"{page.relative_to(ROOT)} line {page.read_text()[: m.start()].count(chr(10)) + 1}")
    for page in PAGES
    for m in re.finditer(r"```(\w*)\n(.*?)```", page.read_text(), re.S)
]


def _blocks(language: str) -> list:
    return [pytest.param(code, id=where) for kind, code, where in BLOCKS if kind == language]


@pytest.mark.parametrize("code", _blocks("python"))
def test_every_python_example_runs_as_written(code, make_emulator, tmp_path):
    emulator = make_emulator({"customer": 20, "subscription": 10, "product": 3, "price": 5})
    (tmp_path / "example.py").write_text(code)
    env = user_environment(emulator, tmp_path)
    done = subprocess.run([sys.executable, "example.py"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.parametrize("code", _blocks("yaml"))
def test_every_run_config_example_is_valid_config_of_its_job(code):
    from stripe_pipeline.dagster_defs.id_sync import ID_SYNC_JOB

    config = yaml.safe_load(code)
    defs = build_definitions(ALL_ACTIONS)
    [op] = config["ops"]
    job = defs.resolve_job_def(ID_SYNC_JOB) if op == "sync_stripe_ids" else defs.resolve_implicit_global_asset_job_def()
    dg.validate_run_config(job, config)


def test_every_command_line_example_parses():
    lines = [line.split("#")[0].strip() for kind, code, _ in BLOCKS if kind == "sh" for line in code.splitlines()]
    commands = [shlex.split(line)[1:] for line in lines if line.startswith("stripe-pipeline ")]
    assert len(commands) >= 5
    for arguments in commands:
        if arguments[0] != "emulator":  # it takes the emulator's own options
            parser().parse_args(arguments)
