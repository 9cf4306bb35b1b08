"""The virtual network's people and channels, driven by the virtual phone's controls
(``/api/simulator/sessions/{deviceId}/...`` and the ``sim.*`` control methods): add a
contact with a profile, change a contact's presence, add a channel and post to it,
archive, pin or mute a chat as the account's phone would. What they change is what the
session then reads through the engine (:mod:`wad.engines.simulator.address_book`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field
from quart import Blueprint, Response
from quart_schema import document_request, document_response

from wad import validation
from wad.control.spec import Spec
from wad.engines.contract import EngineError
from wad.engines.directory import CHANNEL_ROLES
from wad.engines.simulator.address_book import Directory
from wad.engines.simulator.engine import SimulatorEngine
from wad.errors import bad_request, not_found
from wad.http import contacts_schemas, schemas
from wad.http.context import services
from wad.http.helpers import body, ok, require_admin
from wad.http.openapi import ENGINE, api
from wad.services import Services
from wad.services.calls import engine_failure
from wad.services.channels import channel_id
from wad.services.chats import chat_jid

__all__ = ["People", "bp", "methods"]

STATES = ("available", "unavailable", "typing", "recording", "paused")


def _name(value: object, field: str, most: int = 100) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > most:
        raise bad_request(f"{field} must be a string of at most {most} characters")
    return value


class People:
    def __init__(self, services: Services) -> None:
        self.lookup = services.lookup
        self.supervisor = services.supervisor

    def _folder(self, device_id: object) -> Path:
        if not isinstance(self.supervisor.engine, SimulatorEngine):
            raise not_found("The simulator controls exist only with --engine simulator")
        return self.supervisor.folder(self.lookup.live(device_id).device_id)

    def add_contact(self, device_id: object, number: object, **profile: Any) -> dict[str, Any]:
        phone = validation.phone_number(number, "phoneNumber")
        fields = {k: _name(v, k, 139 if k == "about" else 100) for k, v in profile.items()}
        if profile.get("picture") is not None and not isinstance(profile["picture"], str):
            raise bad_request("picture must be a picture id (a string)")
        return Directory(self._folder(device_id)).add_contact(phone, **fields)

    def presence(
        self, device_id: object, number: object, state: object, chat: object = None
    ) -> bool:
        """A contact's presence changes; True when the session was told (subscribed)."""
        phone = validation.phone_number(number, "from")
        if state not in STATES:
            raise bad_request(f"state must be one of {', '.join(STATES)}")
        folder = self._folder(device_id)
        events = Directory(folder).presence_change(phone, str(state))
        if state in ("typing", "recording", "paused"):
            # Typing reaches the chat it happens in, subscribed or not.
            where = chat_jid(chat) if chat is not None else f"{phone}@s.whatsapp.net"
            events = [
                ("presence", {"jid": f"{phone}@s.whatsapp.net", "state": state, "chat": where})
            ]
        self._tell(device_id, events)
        return bool(events)

    def add_channel(
        self, device_id: object, name: object, description: object = "", role: object = "subscriber"
    ) -> dict[str, Any]:
        title = _name(name, "name")
        if not title:
            raise bad_request("name must be 1-100 characters")
        if role not in CHANNEL_ROLES:
            raise bad_request(f"role must be one of {', '.join(CHANNEL_ROLES)}")
        text = _name(description, "description", 2048) or ""
        return Directory(self._folder(device_id)).add_channel(title, text, str(role))

    def channel_post(self, device_id: object, channel: object, text: object) -> dict[str, Any]:
        jid = channel_id(channel)
        body_text = validation.message_text(text, "text")
        try:
            return Directory(self._folder(device_id)).post_to_channel(jid, body_text)
        except EngineError as exc:
            raise engine_failure(exc) from None

    def chat_settings(self, device_id: object, chat: object, **settings: Any) -> dict[str, Any]:
        jid = chat_jid(chat)
        for key in ("archived", "pinned"):
            if settings.get(key) is not None and not isinstance(settings[key], bool):
                raise bad_request(f"{key} must be true or false")
        muted = settings.get("mutedUntil")
        if muted is not None and (isinstance(muted, bool) or not isinstance(muted, int | float)):
            raise bad_request("mutedUntil must be Unix seconds")
        given = {k: v for k, v in settings.items() if v is not None}
        return Directory(self._folder(device_id)).set_chat(jid, given)

    def _tell(self, device_id: object, events: list[tuple[str, dict[str, Any]]]) -> None:
        engine = self.supervisor.engine
        assert isinstance(engine, SimulatorEngine)
        try:
            engine.link(self.lookup.live(device_id).device_id).tell(events)
        except EngineError as exc:
            raise engine_failure(exc) from None


# -- the REST controls ------------------------------------------------------------------

bp = Blueprint("simulator_people", __name__, url_prefix="/api/simulator/sessions/<device_id>")


class PhoneContact(schemas.Body):
    phoneNumber: str | int
    name: str | None = None
    pushName: str | None = None
    businessName: str | None = None
    about: str | None = None
    picture: str | None = None


class PhonePresence(schemas.Body):
    from_: str | int = Field(alias="from")
    state: str
    chat: str | None = None


class PhonePresenceTold(schemas.Ok):
    told: bool


class PhoneChannel(schemas.Body):
    name: str
    description: str = ""
    role: str = "subscriber"


class PhoneChannelOne(schemas.Ok):
    channel: contacts_schemas.Channel


class PhoneChannelPost(schemas.Body):
    text: str


class PhoneChatSettings(schemas.Body):
    chat: str
    archived: bool | None = None
    pinned: bool | None = None
    mutedUntil: float | None = None


def people() -> People:
    return People(services())


@bp.post("/contacts")
@api("simulatorAddContact", "Simulator", "admin")
@document_request(PhoneContact)
@document_response(schemas.Ok, 201)
async def add_contact(device_id: str) -> Response:
    """A person the account knows, with a profile."""
    await require_admin()
    data = await body(PhoneContact)
    fields = data.model_dump(exclude={"phoneNumber"})
    people().add_contact(device_id, str(data.phoneNumber), **fields)
    return ok(201, message="Contact added")


@bp.post("/presence")
@api("simulatorPresence", "Simulator", "admin", errors=ENGINE)
@document_request(PhonePresence)
@document_response(PhonePresenceTold)
async def presence(device_id: str) -> Response:
    """A contact comes online, goes away, or types; subscribers (and a chat) are told."""
    await require_admin()
    data = await body(PhonePresence)
    return ok(told=people().presence(device_id, str(data.from_), data.state, data.chat))


@bp.post("/channels")
@api("simulatorAddChannel", "Simulator", "admin")
@document_request(PhoneChannel)
@document_response(PhoneChannelOne, 201)
async def add_channel(device_id: str) -> Response:
    """A channel on the network; the account follows it when it owns or administers it."""
    await require_admin()
    data = await body(PhoneChannel)
    return ok(201, channel=people().add_channel(device_id, data.name, data.description, data.role))


@bp.post("/channels/<channel_id>/messages")
@api("simulatorChannelPost", "Simulator", "admin", errors=ENGINE)
@document_request(PhoneChannelPost)
@document_response(schemas.Ok, 201)
async def channel_post(device_id: str, channel_id: str) -> Response:
    """The channel's admin posts a text (what followers read)."""
    await require_admin()
    data = await body(PhoneChannelPost)
    people().channel_post(device_id, channel_id, data.text)
    return ok(201, message="Posted")


@bp.post("/chat-settings")
@api("simulatorChatSettings", "Simulator", "admin")
@document_request(PhoneChatSettings)
@document_response(schemas.Ok)
async def chat_settings(device_id: str) -> Response:
    """The account's phone archives, pins or mutes a chat (synced to the session)."""
    await require_admin()
    data = await body(PhoneChatSettings)
    people().chat_settings(device_id, data.chat, **data.model_dump(exclude={"chat"}))
    return ok(message="Chat settings synced")


# -- the control methods ----------------------------------------------------------------


def methods(services: Services) -> dict[str, Spec]:
    sim = People(services)
    return {
        "sim.contact": Spec(
            lambda p: sim.add_contact(
                p["deviceId"],
                p["phoneNumber"],
                **{k: v for k, v in p.items() if k not in ("deviceId", "phoneNumber")},
            ),
            ("deviceId", "phoneNumber"),
            ("name", "pushName", "businessName", "about", "picture"),
        ),
        "sim.presence": Spec(
            lambda p: {"told": sim.presence(p["deviceId"], p["from"], p["state"], p.get("chat"))},
            ("deviceId", "from", "state"),
            ("chat",),
        ),
    }
