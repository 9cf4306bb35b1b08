"""The store: apsw on ``wad.db``."""

from wad.store.database import *  # noqa: F403
from wad.store.database import SessionRow, Store, StoredEvent, id_bits, new_id, now_iso

__all__ = ["SessionRow", "Store", "StoredEvent", "id_bits", "new_id", "now_iso"]
