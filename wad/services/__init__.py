"""What wad does, once: every operation that the REST API and the control socket share.

One module per concern, each a small class built over the same few parts (the
store, the supervisor, the event log) and the public :class:`~wad.services.lookup.Lookup`
that turns a deviceId or a message id into what it names. Each operation validates
its input, does the work and returns plain JSON-ready data, or raises
:class:`~wad.errors.WadError` with a stable code. The doors only authenticate,
parse and format.

:class:`Services` holds one of each; the daemon builds it once.
"""

from __future__ import annotations

from dataclasses import dataclass

from wad.auth.admin_token import AdminToken
from wad.config import Config
from wad.services.actions import Actions
from wad.services.channels import Channels
from wad.services.chats import Chats
from wad.services.contacts import Contacts
from wad.services.directory import Directory
from wad.services.groups import Groups
from wad.services.keys import Keys
from wad.services.lookup import Lookup
from wad.services.messages import Messages
from wad.services.polls import Polls
from wad.services.profile import Profile
from wad.services.sending import Sending
from wad.services.sessions import Sessions
from wad.services.status import Status
from wad.services.status_posts import StatusPosts
from wad.sessions.events import EventLog
from wad.sessions.supervisor import Supervisor
from wad.store import Store

__all__ = [
    "Actions",
    "Channels",
    "Chats",
    "Contacts",
    "Directory",
    "Groups",
    "Keys",
    "Lookup",
    "Messages",
    "Profile",
    "Polls",
    "Sending",
    "Services",
    "Sessions",
    "Status",
    "StatusPosts",
]


@dataclass(frozen=True, slots=True)
class Services:
    """One instance of each service, sharing the daemon's parts."""

    config: Config
    store: Store
    supervisor: Supervisor
    events: EventLog
    admin: AdminToken
    lookup: Lookup
    sessions: Sessions
    keys: Keys
    sending: Sending
    actions: Actions
    directory: Directory
    messages: Messages
    status: Status
    # Contacts and chats, profile and privacy, channels (issue 18).
    contacts: Contacts
    chats: Chats
    profile: Profile
    channels: Channels
    groups: Groups
    polls: Polls
    status_posts: StatusPosts

    @classmethod
    def build(
        cls,
        config: Config,
        store: Store,
        supervisor: Supervisor,
        events: EventLog,
        admin: AdminToken,
    ) -> Services:
        lookup = Lookup(store, supervisor, clustered=config.database_url is not None)
        sending = Sending(config, lookup, store, events)
        return cls(
            config=config,
            store=store,
            supervisor=supervisor,
            events=events,
            admin=admin,
            lookup=lookup,
            sessions=Sessions(lookup, store, supervisor, events),
            keys=Keys(lookup, store),
            sending=sending,
            actions=Actions(lookup, store),
            directory=Directory(lookup, store),
            messages=Messages(lookup, store),
            status=Status(config, supervisor, admin),
            contacts=Contacts(lookup, store),
            chats=Chats(lookup, store),
            profile=Profile(lookup, store),
            channels=Channels(lookup, store, events),
            groups=Groups(lookup, store),
            polls=Polls(lookup, store, sending),
            status_posts=StatusPosts(sending),
        )
