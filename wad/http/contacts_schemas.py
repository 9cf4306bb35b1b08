"""Bodies, answers and query parameters of the contacts, chats, profile, privacy,
blocklist, channels and presence-subscription routes."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from wad.http.params import Params
from wad.http.schemas import Body, Ok, StoredMessage, Timestamp
from wad.services.channels import CHANNEL_MESSAGES_MAX
from wad.services.chats import CHAT_MESSAGES_MAX, CHATS_PAGE_MAX
from wad.services.contacts import CONTACTS_PAGE_MAX, QUERY_MAX
from wad.services.profile import ABOUT_MAX, PUSH_NAME_MAX

Audience = Literal["all", "contacts", "contact_blacklist", "none"]


class KnownContact(Body):
    """A contact the account knows (not a contact card sent in a message)."""

    jid: str
    phoneNumber: str | None = Field(description="for a user JID on s.whatsapp.net")
    name: str | None = Field(description="the name in the account's address book")
    pushName: str | None = Field(description="the name the contact gave themselves")
    businessName: str | None
    isBusiness: bool
    pictureUrl: str | None = Field(
        None, description="with `?pictures=true`: their picture's URL (null: none or hidden)"
    )


class ContactPage(Ok):
    contacts: list[KnownContact]
    nextCursor: str | None = Field(description="pass as `cursor` for the next page")


class ContactsQuery(Params):
    q: str | None = Field(
        None, max_length=QUERY_MAX, description="search names, push names and numbers"
    )
    limit: int = Field(50, ge=1, le=CONTACTS_PAGE_MAX)
    cursor: str | None = Field(None, description="`nextCursor` of the page before")
    pictures: bool = Field(False, description="also each contact's picture URL (limit ≤ 50)")


class UserProfile(Ok):
    jid: str
    about: str | None
    businessName: str | None
    pictureId: str | None
    pictureUrl: str | None


class JidBody(Body):
    jid: str | int = Field(description="a phone number or a user JID", examples=["15550002222"])


class Blocklist(Ok):
    jids: list[str]


class Blocked(Blocklist):
    jid: str
    blocked: bool


class PresenceSubscribed(Ok):
    jid: str
    subscribed: bool


class Chat(Body):
    jid: str = Field(description="the peer: a user, group or channel JID")
    unreadCount: int = Field(description="received messages not marked read")
    lastMessage: StoredMessage
    archived: bool | None = Field(description="as synced by WhatsApp; null: not known now")
    pinned: bool | None
    mutedUntil: float | None = Field(description="Unix seconds; null: not muted or not known")


class ChatPage(Ok):
    chats: list[Chat]
    nextCursor: str | None = Field(description="pass as `cursor` for the next page")


class ChatsQuery(Params):
    limit: int = Field(50, ge=1, le=CHATS_PAGE_MAX)
    cursor: str | None = Field(None, max_length=128)


class ChatMessagesQuery(Params):
    before: str | None = Field(
        None, description="an ISO 8601 time or Unix seconds: messages stored before it"
    )
    limit: int = Field(50, ge=1, le=CHAT_MESSAGES_MAX)


class ChatMessages(Ok):
    chat: str
    messages: list[StoredMessage]
    nextBefore: Timestamp | None = Field(description="pass as `before` for older messages")


class OwnProfile(Ok):
    jid: str | None
    pushName: str | None
    about: str | None
    pictureUrl: str | None


class ProfileUpdate(Body):
    pushName: str | None = Field(None, max_length=PUSH_NAME_MAX)
    about: str | None = Field(None, max_length=ABOUT_MAX, description="empty clears it")


class Picture(Body):
    data: str = Field(description="a JPEG image, base64-encoded")


class PictureSet(Ok):
    pictureId: str | None


class PrivacySettings(Body):
    lastSeen: Audience | None = None
    online: Literal["all", "match_last_seen"] | None = None
    picture: Audience | None = None
    about: Audience | None = None
    groups: Literal["all", "contacts", "contact_blacklist"] | None = None
    readReceipts: Literal["all", "none"] | None = None
    calls: Literal["all", "known"] | None = None


class Privacy(Ok):
    settings: PrivacySettings


class Channel(Body):
    id: str = Field(examples=["120363000000000001@newsletter"])
    name: str
    description: str
    role: Literal["owner", "admin", "subscriber", "guest"]
    subscribers: int
    muted: bool
    inviteCode: str | None


class ChannelList(Ok):
    channels: list[Channel]


class Following(Ok):
    id: str
    following: bool


class ChannelMessage(Body):
    serverId: int
    type: str
    text: str | None
    views: int | None = None
    reactions: dict[str, int] | None = None


class ChannelMessages(Ok):
    channel: str
    messages: list[ChannelMessage]
    nextBefore: int | None


class ChannelMessagesQuery(Params):
    before: int | None = Field(None, description="a message's serverId: older ones")
    limit: int = Field(50, ge=1, le=CHANNEL_MESSAGES_MAX)


class ChannelPost(Body):
    text: str
