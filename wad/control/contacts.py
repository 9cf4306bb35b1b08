"""The control socket's methods for a session's contacts and blocklist (``contacts.*``),
each the operation its REST twin calls."""

from __future__ import annotations

from wad.control.spec import Spec
from wad.services import Services

__all__ = ["methods"]


def methods(services: Services) -> dict[str, Spec]:
    people = services.contacts
    dev = ("deviceId",)
    return {
        "contacts.list": Spec(
            lambda p: people.page(
                p["deviceId"], p.get("query"), p.get("limit"), p.get("cursor"), p.get("pictures")
            ),
            dev,
            ("query", "limit", "cursor", "pictures"),
        ),
        "contacts.blocklist": Spec(lambda p: people.blocklist(p["deviceId"]), dev),
        "contacts.block": Spec(lambda p: people.block(p["deviceId"], p["jid"]), (*dev, "jid")),
        "contacts.unblock": Spec(lambda p: people.unblock(p["deviceId"], p["jid"]), (*dev, "jid")),
    }
