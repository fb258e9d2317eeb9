"""`stripe-pipeline`: the sync from the shell, without Dagster, on the core the assets run.

    stripe-pipeline sync customers invoices [--full-refresh] [--reconcile]
    stripe-pipeline sync-ids cus_… in_…
    stripe-pipeline status
    stripe-pipeline emulator --customers 5000
    stripe-pipeline demo

Configured by the same environment variables as the code location (README: the variables).
"""

from .main import main

__all__ = ["main"]
