"""Token stores (seed 004 "Data at Rest"): persistent SQLite or memory."""

from __future__ import annotations

from craton_hsm.config import Config
from craton_hsm.store.base import SlotStore, StoredObject, TokenState
from craton_hsm.store.memory import MemorySlotStore
from craton_hsm.store.sqlite import SqliteSlotStore, slot_path

__all__ = ["SlotStore", "StoredObject", "TokenState", "open_slot_store"]


def open_slot_store(config: Config, slot_id: int) -> SlotStore:
    """The store for ``slot_id`` chosen by ``config.storage_mode``."""
    if slot_id < 0:
        raise ValueError("slot id must not be negative")
    if config.storage_mode == "memory":
        return MemorySlotStore(slot_id, config.max_objects_per_token)
    return SqliteSlotStore(slot_path(config.data_dir, slot_id), slot_id,
                           config.busy_timeout_ms,
                           config.max_objects_per_token)
