"""The simulated network's contacts: every virtual phone number has a LID too.

WhatsApp gives each account a privacy id (``<digits>@lid``) beside its phone-number
JID and addresses more and more messages by it alone. The simulator's LID of a
number is fixed and reversible (an affine permutation of ``1<digits><check>`` modulo
10**18), so the network can map a LID back to its phone without keeping a table,
across restarts too, and tests can compute it (:func:`lid_for`).

How a virtual phone's message is addressed (``addressing`` on the incoming route):

- ``pn`` (the default): by phone number; the engine's LID map knows the LID;
- ``lid``: by LID only, as WhatsApp does more and more; the engine's map (as
  whatsmeow's, which learns it from contact and history syncs) gives the phone number;
- ``lid_unmapped``: by LID only, and the engine has never seen that contact's phone
  number: ``from`` is the LID, with no ``fromPhone``, as clients must expect.
"""

from __future__ import annotations

from typing import Any

from wad.engines.ids import LID_SERVER, PHONE_SERVER, ids_json, is_lid, person

ADDRESSING = ("pn", "lid", "lid_unmapped")
_MODULUS = 10**18
_FACTOR = 48271  # coprime to 10**18: the map is a permutation, hence reversible
_OFFSET = 2718281828459045
_INVERSE = pow(_FACTOR, -1, _MODULUS)


def lid_for(number: str) -> str:
    """The LID (``<digits>@lid``) of a virtual phone number."""
    value = (int(f"1{number}{_check(number):02d}") * _FACTOR + _OFFSET) % _MODULUS
    return f"{value}@{LID_SERVER}"


def _check(number: str) -> int:
    return int(number) % 97


def number_for(lid: str) -> str | None:
    """The phone number whose LID this is; None for a LID no virtual phone has."""
    if not is_lid(lid):
        return None
    value = str(((int(lid.partition("@")[0]) - _OFFSET) * _INVERSE) % _MODULUS)
    number, check = value[1:-2], value[-2:]
    if not value.startswith("1") or not 6 <= len(number) <= 15:
        return None
    return number if int(check) == _check(number) else None


def phone_jid(number: str) -> str:
    return f"{number}@{PHONE_SERVER}"


def sender_fields(number: str, addressing: str, group: bool) -> dict[str, Any]:
    """``from``/``chat`` and their Phone/Lid twins of a message from ``number``."""
    lid = lid_for(number)
    phone = None if addressing == "lid_unmapped" else phone_jid(number)
    fields = person("from", phone, lid)
    if not group:
        fields.update(person("chat", phone, lid))
    return fields


def recipient_number(to: str) -> str | None:
    """The phone number a send to ``to`` (a user JID or a LID) reaches."""
    if to.endswith("@" + LID_SERVER):
        return number_for(to)
    user, _, server = to.partition("@")
    return user if server == PHONE_SERVER else None


def resolve(jid: object) -> dict[str, Any]:
    """``resolve_ids``: both forms of a phone number, user JID or LID."""
    value = str(jid or "")
    user, _, server = value.partition("@")
    server = server or PHONE_SERVER
    if server == LID_SERVER:
        number = number_for(f"{user}@{server}")
        return ids_json(value, phone_jid(number) if number else None, value)
    return ids_json(f"{user}@{server}", phone_jid(user), lid_for(user))


def participant(jid: str) -> dict[str, Any]:
    """A group participant's two ids."""
    ids = resolve(jid)
    return {"phone": ids["phone"], "lid": ids["lid"]}


def mention_ids(mentions: list[Any]) -> list[dict[str, Any]]:
    out = []
    for jid in mentions:
        number = recipient_number(jid) if isinstance(jid, str) else None
        if number is None:
            out.append({"jid": jid, "phone": None, "lid": None})
        else:
            out.append(
                {"jid": phone_jid(number), "phone": phone_jid(number), "lid": lid_for(number)}
            )
    return out
