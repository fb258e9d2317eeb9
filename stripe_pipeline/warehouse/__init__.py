"""The warehouse layer: engine from WAREHOUSE_URL, table creation, multi-row upserts."""

from .engine import WarehouseError, create_warehouse_engine, safe_url
from .state_store import StateStore
from .upsert import UpsertResult
from .warehouse import Warehouse

__all__ = ["StateStore", "UpsertResult", "Warehouse", "WarehouseError", "create_warehouse_engine", "safe_url"]
