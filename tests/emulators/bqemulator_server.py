"""bqemulator, as the BigQuery tests start it: `python bqemulator_server.py ARGS…` (the
arguments of `bqemulator start`), run by the Python of bqemulator's own environment
(tests/emulators/install), never imported by the tests or the project.

bqemulator loads DuckDB's spatial extension at start, and would download it (this machine, like
CI's, reaches no extension repository): the build that the duckdb-extension-spatial package ships
is installed first into $HOME's DuckDB extension folder.
"""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb
import duckdb_extension_spatial
from bqemulator.cli import main

if __name__ == "__main__":
    extension = next(Path(duckdb_extension_spatial.__file__).parent.glob("extensions/*/spatial.duckdb_extension"))
    with duckdb.connect(config={"extension_directory": str(Path.home() / ".duckdb" / "extensions")}) as connection:
        connection.execute(f"INSTALL '{extension}'")
    sys.exit(main(["start", *sys.argv[1:]]))
