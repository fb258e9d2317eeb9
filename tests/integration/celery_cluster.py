"""A Celery deployment on this machine for test_celery.py, as deploy/README.md describes it: the
shipped deploy/dagster.yaml and deploy/celery.yaml, workers started with `dagster-celery worker
start`, and runs launched with `dagster job execute`, each an OS process of its own."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
MODULE = "stripe_pipeline.celery_definitions"


@dataclass
class Cluster:
    home: Path  # DAGSTER_HOME, with deploy/dagster.yaml in it
    env: dict[str, str]
    emulator: Any = None  # the Stripe emulator the workers sync from
    workers: dict[str, subprocess.Popen] = field(default_factory=dict)

    @classmethod
    def create(cls, home: Path, env: dict[str, str], key_prefix: str, emulator: Any) -> Cluster:
        """`env`: the deployment's variables (DAGSTER_PG_URL, the broker and backend URLs, the
        sync's settings). `key_prefix`: where this cluster's results live in Redis, so that
        the test can drop them and touches no one else's keys."""
        home.mkdir(parents=True, exist_ok=True)
        (home / "dagster.yaml").write_text((ROOT / "deploy" / "dagster.yaml").read_text())
        config = yaml.safe_load((ROOT / "deploy" / "celery.yaml").read_text())
        config["execution"]["config"]["config_source"]["result_backend_transport_options"] = {"global_keyprefix": key_prefix}
        (home / "celery.yaml").write_text(yaml.safe_dump(config))
        # The workers' CLI starts `celery` by name: it must find the one of this virtualenv.
        path = f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"
        return cls(home, {**env, "PATH": path, "DAGSTER_HOME": str(home), "DAGSTER_CELERY_CONFIG": str(home / "celery.yaml")}, emulator)

    def start_worker(self, name: str) -> None:
        log = open(self.home / f"{name}.log", "w")  # noqa: SIM115 - the worker outlives this call
        # A session of its own: the CLI, the celery main process and its pool processes are one
        # process group, which kill_worker takes down at once, as when a machine dies.
        command = [str(BIN / "dagster-celery"), "worker", "start", "-A", "dagster_celery.app", "-y", self.env["DAGSTER_CELERY_CONFIG"]]
        self.workers[name] = subprocess.Popen(
            [*command, "-n", name],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill_worker(self, name: str) -> None:
        os.killpg(self.workers[name].pid, signal.SIGKILL)
        self.workers[name].wait()

    def stop(self) -> None:
        for process in self.workers.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def launch(self, job: str) -> subprocess.Popen:
        """The run's own process: it plans the run, sends each step to the broker and waits for
        the workers' results, as a run launched by the daemon would."""
        return subprocess.Popen(
            [str(BIN / "dagster"), "job", "execute", "-m", MODULE, "-j", job],
            env=self.env,
            stdout=open(self.home / f"run-{time.monotonic_ns()}.log", "w"),  # noqa: SIM115
            stderr=subprocess.STDOUT,
        )

    def instance(self) -> dg.DagsterInstance:
        return dg.DagsterInstance.from_config(str(self.home))


def steps_by_worker(instance: dg.DagsterInstance, run_id: str) -> list[tuple[str, str]]:
    """(step key, worker name) for each step a worker began, in order, from the engine events
    that dagster-celery's task writes ("Executing steps … in celery worker")."""
    began = []
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        event = record.dagster_event
        metadata = getattr(event.event_specific_data, "metadata", None) or {}
        if "Celery worker" in metadata and event.step_key:
            began.append((event.step_key, str(metadata["Celery worker"].value).split("@")[0]))
    return began


def finished_steps(instance: dg.DagsterInstance, run_id: str) -> set[str]:
    return {
        record.dagster_event.step_key
        for record in instance.all_logs(run_id, of_type={dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE})
    }


def tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""
