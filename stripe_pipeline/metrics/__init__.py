"""Revenue analytics on the synced tables: MRR and its movements, churn, revenue and cohorts.

Dagster-free, as the rest of the core: frames.py reads the synced tables, mrr.py, churn.py,
revenue.py and cohorts.py compute with pandas, and tables.py writes the results back into the
warehouse. dagster_defs/metrics.py makes them assets.
"""

from .tables import INPUT_TABLES, TABLES, build_all, write

__all__ = ["INPUT_TABLES", "TABLES", "build_all", "write"]
