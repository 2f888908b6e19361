"""Inventories: servers, routes and accounts with their services, read from YAML."""

from orchestra_core.inventory.loader import (
    INSTALLED,
    Inventory,
    InventoryValidationError,
    Problem,
    Routable,
    load_inventory,
    parse_inventory,
    routables_of,
)

__all__ = [
    "INSTALLED",
    "Inventory",
    "InventoryValidationError",
    "Problem",
    "Routable",
    "load_inventory",
    "parse_inventory",
    "routables_of",
]
