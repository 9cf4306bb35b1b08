"""``Store``: the connection with every table's queries, all of wad's core SQL."""

from wad.store.chats import ChatQueries
from wad.store.contacts import ContactQueries
from wad.store.events import EventQueries
from wad.store.history import HistoryQueries
from wad.store.idempotency import IdempotencyQueries
from wad.store.messages import MessageQueries
from wad.store.polls import PollQueries
from wad.store.retention import RetentionQueries
from wad.store.sessions import SessionQueries
from wad.store.settings import SettingQueries


class Store(
    SessionQueries,
    SettingQueries,
    ChatQueries,
    MessageQueries,
    HistoryQueries,
    IdempotencyQueries,
    EventQueries,
    RetentionQueries,
    PollQueries,
    ContactQueries,
):
    """One apsw connection to ``wad.db`` (see ``wad.store.connection``); its methods
    are each table's queries, one module a table."""
