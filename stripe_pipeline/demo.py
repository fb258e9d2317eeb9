"""`python -m stripe_pipeline.demo`: the full sync job, end to end, on the embedded default.

Starts the bundled Stripe emulator with a seeded account, runs the `stripe_full_sync` job
into a SQLite warehouse of its own (`stripe_demo.db`) and prints the rows per table. It never
writes to WAREHOUSE_URL: emulator data must not mix with a real account's rows.
"""

from __future__ import annotations

import os

import pandas as pd

from .actions import ALL_ACTIONS
from .emulator import Emulator
from .emulator.__main__ import DEMO_COUNTS
from .warehouse import Warehouse, safe_url


DEMO_WAREHOUSE_URL = "sqlite:///stripe_demo.db"


def main() -> None:
    with Emulator(seed=DEMO_COUNTS) as emulator:
        os.environ["STRIPE_API_KEY"] = emulator.api_key
        os.environ["STRIPE_API_BASE"] = emulator.base_url
        os.environ["WAREHOUSE_URL"] = DEMO_WAREHOUSE_URL
        os.environ.pop("WAREHOUSE_SCHEMA", None)
        # Imported late: the code location reads the environment when it is built.
        from .dagster_defs.factory import FULL_SYNC_JOB
        from .definitions import defs

        warehouse = Warehouse()
        print(f"Syncing the emulator at {emulator.base_url} into {safe_url(warehouse.url)} …", flush=True)
        result = defs.resolve_job_def(FULL_SYNC_JOB).execute_in_process(
            run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}}
        )
        counts = emulator.store.counts()
        report = pd.DataFrame(
            [
                {
                    "table": warehouse.qualified_name(action.table()),
                    "rows": warehouse.count(action.table()),
                    "objects in the emulator": counts[action.table_name()],
                }
                for action in ALL_ACTIONS
            ]
        )
    print(report.to_string(index=False))
    if not result.success:
        raise SystemExit("The full sync job failed; see the log above.")
    print(f"\nThe tables are in {safe_url(warehouse.url)}. Next: `dagster dev -w workspace.yaml` (see the README).")


if __name__ == "__main__":
    main()
