"""bqemulator, as the BigQuery tests start it: `python bqemulator_server.py ARGS…` (the
arguments of `bqemulator start`), run by the Python of bqemulator's own environment
(tests/emulators/install), never imported by the tests or the project.

bqemulator loads DuckDB's spatial extension at start, and would download it (this machine, like
CI's, reaches no extension repository): the build that the duckdb-extension-spatial package ships
is installed first into $HOME's DuckDB extension folder.

Where bqemulator answers otherwise than BigQuery, corrected here:
- A table's update (tables.patch or tables.update) that adds fields to its schema changes the
  emulator's catalog only: its DuckDB table lacked the new columns, so every statement naming
  them failed. The columns are added to the DuckDB table too, as BigQuery adds them to the table.
"""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb
import duckdb_extension_spatial
from bqemulator.api.routes.tables import _field_to_rest
from bqemulator.catalog.duckdb_repository import DuckDBCatalogRepository
from bqemulator.catalog.memory_repository import MemoryCatalogRepository
from bqemulator.cli import main
from bqemulator.storage.sql_identifiers import quoted_table_ref
from bqemulator.storage.type_map import bq_schema_to_duckdb_columns


def _adding_columns(update_table):
    """A catalog's update_table that first adds the fields new to the table's schema to its DuckDB table."""

    def update(self, table):
        existing = self.get_table(table.project_id, table.dataset_id, table.table_id)
        if existing is not None and existing.table_type == "TABLE" and self._engine is not None:
            known = {field.name for field in existing.schema_.fields}
            added = [_field_to_rest(field) for field in table.schema_.fields if field.name not in known]
            target = quoted_table_ref(table.project_id, table.dataset_id, table.table_id)
            for name, sql_type in bq_schema_to_duckdb_columns(added) if added else []:
                self._engine.execute(f'ALTER TABLE {target} ADD COLUMN IF NOT EXISTS "{name}" {sql_type}')
        return update_table(self, table)

    return update


if __name__ == "__main__":
    extension = next(Path(duckdb_extension_spatial.__file__).parent.glob("extensions/*/spatial.duckdb_extension"))
    with duckdb.connect(config={"extension_directory": str(Path.home() / ".duckdb" / "extensions")}) as connection:
        connection.execute(f"INSTALL '{extension}'")
    for repository in (MemoryCatalogRepository, DuckDBCatalogRepository):
        repository.update_table = _adding_columns(repository.update_table)
    sys.exit(main(["start", *sys.argv[1:]]))
