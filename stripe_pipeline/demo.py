"""`python -m stripe_pipeline.demo`: the full sync job, end to end, on the embedded default.

Starts the bundled Stripe emulator with a seeded account and runs the `stripe_full_sync` job
into a SQLite warehouse of its own (`stripe_demo.db`). Then it changes the account (new,
updated and deleted customers, a canceled subscription) and runs the job again, which now
reads only the events. It prints the rows per table. It never writes to WAREHOUSE_URL:
emulator data must not mix with a real account's rows.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pandas as pd

from .actions import ALL_ACTIONS
from .dagster_defs.selection import default_tables
from .models import MODELS
from .warehouse import Warehouse, safe_url

if TYPE_CHECKING:
    from stripe_emulator import Emulator

DEMO_WAREHOUSE_URL = "sqlite:///stripe_demo.db"


def main() -> None:
    # Imported here: the runtime package does not need the emulator, only the demo does.
    from stripe_emulator import Emulator
    from stripe_emulator.__main__ import DEMO_COUNTS

    with Emulator(seed=DEMO_COUNTS) as emulator:
        os.environ["STRIPE_API_KEY"] = emulator.api_key
        os.environ["STRIPE_API_BASE"] = emulator.base_url
        os.environ["WAREHOUSE_URL"] = DEMO_WAREHOUSE_URL
        os.environ.pop("WAREHOUSE_SCHEMA", None)
        # Imported late: the code location reads the environment when it is built.
        from .dagster_defs.factory import FULL_SYNC_JOB
        from .definitions import load_definitions

        warehouse = Warehouse()
        job = load_definitions().resolve_job_def(FULL_SYNC_JOB)
        run_config = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}
        print(f"Syncing the emulator at {emulator.base_url} into {safe_url(warehouse.url)} …", flush=True)
        first = job.execute_in_process(run_config=run_config)
        _change_the_account(emulator)
        print("Changed the account; syncing again, from the events …", flush=True)
        second = job.execute_in_process(run_config=run_config)
        modes = {
            event.asset_key.path[-1]: event.step_materialization_data.materialization.metadata["mode"].value
            for event in second.all_events
            if event.event_type_value == "ASSET_MATERIALIZATION" and event.asset_key is not None
        }
        report = pd.DataFrame(
            [
                {
                    "table": warehouse.qualified_name(MODELS[table].__table__),
                    "rows": warehouse.count(MODELS[table].__table__),
                    "deleted rows": len(warehouse.ids(MODELS[table].__table__, None, deleted=True)),
                    "objects in the emulator": emulator.store.table_count(table),
                    "second run": modes.get(table),
                }
                for table in sorted(default_tables(ALL_ACTIONS))
            ]
        )
    print(report.to_string(index=False))
    if not (first.success and second.success):
        raise SystemExit("The full sync job failed; see the log above.")
    print(f"\nThe tables are in {safe_url(warehouse.url)}. Next: `dagster dev -w workspace.yaml` (see the README).")


def _change_the_account(emulator: Emulator) -> None:
    store = emulator.store
    customers = list(store.collections["customers"].objects)
    for index in range(5):
        store.create("customer", name=f"New customer {index}")
    for customer in customers[:3]:
        store.update(customer, metadata={"segment": "enterprise"})
    for customer in customers[3:5]:
        store.delete(customer)
    active = next(s for s, obj in store.collections["subscriptions"].objects.items() if obj["status"] == "active")
    store.delete(active)  # cancels it


if __name__ == "__main__":
    main()
