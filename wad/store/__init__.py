"""The store: apsw on ``wad.db``: the connection and its transactions
(``connection``), the schema (``migrations``), one module of queries a table
(``sessions``, ``keys``, ``messages``, ``idempotency``, ``events``) composed
into ``Store`` (``database``), ids and the clock."""

from wad.store.clock import now_iso
from wad.store.database import Queries, Store
from wad.store.events import StoredEvent
from wad.store.ids import id_bits, new_id
from wad.store.sessions import SessionRow

__all__ = ["Queries", "SessionRow", "Store", "StoredEvent", "id_bits", "new_id", "now_iso"]
