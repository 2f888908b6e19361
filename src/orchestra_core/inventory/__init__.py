"""Inventories: servers, routes and accounts with their services, read from YAML."""

from orchestra_core.inventory.loader import (
    Inventory,
    InventoryValidationError,
    Problem,
    load_inventory,
    parse_inventory,
)

__all__ = [
    "Inventory",
    "InventoryValidationError",
    "Problem",
    "load_inventory",
    "parse_inventory",
]
