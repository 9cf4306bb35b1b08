"""A person's two WhatsApp ids, the phone-number JID and the LID, in every event
(standard library only: the neonize worker imports it).

WhatsApp addresses people more and more by a privacy id, the LID (``<digits>@lid``),
instead of their phone-number JID (``<digits>@s.whatsapp.net``); whatsmeow keeps a map
of the two as it learns them. Clients know people by phone number, so every event that
names a person carries both when either is known: ``<role>`` (the phone-number form
whenever it is known, the LID otherwise; the meaning ``from`` always had),
``<role>Phone`` and ``<role>Lid``. Both engines fill them the same way, with
:func:`person`.
"""

from __future__ import annotations

import re
from typing import Any

PHONE_SERVER = "s.whatsapp.net"
LID_SERVER = "lid"
_LID = re.compile(r"^[0-9]{1,20}@lid$")
_PHONE = re.compile(r"^[0-9]{6,15}@s\.whatsapp\.net$")


def is_lid(jid: str | None) -> bool:
    return bool(jid) and _LID.fullmatch(jid or "") is not None


def is_phone(jid: str | None) -> bool:
    return bool(jid) and _PHONE.fullmatch(jid or "") is not None


def person(role: str, phone: str | None, lid: str | None) -> dict[str, Any]:
    """The fields that name one person in role ``role`` (``from``, ``chat``, ``by``...):
    ``role`` itself (phone form first), ``rolePhone`` and ``roleLid``, each only when
    known."""
    out: dict[str, Any] = {}
    main = phone or lid
    if main:
        out[role] = main
    if phone:
        out[f"{role}Phone"] = phone
    if lid:
        out[f"{role}Lid"] = lid
    return out


def ids_json(jid: str, phone: str | None, lid: str | None) -> dict[str, Any]:
    """The answer of ``resolve_ids``: what was asked, and both forms (None: unknown)."""
    return {
        "jid": jid,
        "phone": phone,
        "lid": lid,
        "phoneNumber": phone.partition("@")[0] if phone else None,
    }
