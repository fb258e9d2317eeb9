"""The warehouse layer: engine from WAREHOUSE_URL, table creation, multi-row upserts."""

from .engine import WarehouseError, create_warehouse_engine, safe_url
from .upsert import UpsertResult
from .warehouse import Warehouse

__all__ = ["UpsertResult", "Warehouse", "WarehouseError", "create_warehouse_engine", "safe_url"]
