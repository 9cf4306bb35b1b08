"""Virtual groups: the simulated network's side of group administration and polls.

A group lives in the groups file of each simulated device that is a member (the
device's own view, as whatsmeow keeps one per account); a change made through one
device is written to every member device that is live and reported to each as
WhatsApp reports it, a ``group_participants`` or ``group_update`` event
(:mod:`wad.engines.group_events`), the acting device included.

Virtual contacts (phone numbers, not devices) behave as WhatsApp's users do:
numbers ending in ``0000`` are not on WhatsApp (404), numbers ending in ``403``
refuse being added by their privacy settings (403, with an invite code to send
them), anyone may join by a valid invite link (or ask to, where the group
approves members), and vote in polls. Each has a privacy id (``...@lid``) derived
from the number, so events carry both, as WhatsApp's do once it knows them.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from pathlib import Path
from typing import Any, Protocol

from wad.engines.contract import EngineError
from wad.engines.group_events import (
    GROUP_COMMANDS,
    INVITE_PREFIX,
    REQUEST_ACTIONS,
    STATUS_JID,
    invite_code,
    person,
)
from wad.files import write_private


class SimLink(Protocol):
    """A simulated device's live connection, as the network sees it (engine.SimLink)."""

    folder: Path

    def emit_event(self, kind: str, **data: Any) -> None: ...

    def jid(self) -> str | None: ...


class Devices(Protocol):
    """The simulator engine: its devices that are connected now."""

    def live_links(self) -> list[Any]: ...


GROUPS = "simulator-groups.json"  # the same file the engine's add_group writes
PRIVACY_SUFFIX = "403"
NOT_ON_WHATSAPP_SUFFIX = "0000"
COMMANDS = frozenset(GROUP_COMMANDS)
__all__ = ["COMMANDS", "STATUS_JID", "Network", "public"]
JPEG_MAGIC = b"\xff\xd8\xff"


def lid_of(jid: str) -> str:
    """A virtual contact's privacy id: stable, and unlike its number."""
    digest = hashlib.sha256(jid.encode()).digest()
    return f"{int.from_bytes(digest[:8], 'big') % 10**15:015d}@lid"


def someone(jid: str) -> dict[str, Any]:
    return person(jid, lid=lid_of(jid))


def option_hash(option: str) -> str:
    """What a vote carries for an option: SHA-256 of its text (as WhatsApp's votes)."""
    return hashlib.sha256(option.encode()).hexdigest()


def _number(jid: str) -> str:
    return jid.split("@", 1)[0]


def _load(folder: Path) -> dict[str, dict[str, Any]]:
    path = folder / GROUPS
    groups: dict[str, dict[str, Any]] = json.loads(path.read_text()) if path.exists() else {}
    return groups


def _save(folder: Path, groups: dict[str, dict[str, Any]]) -> None:
    write_private(folder / GROUPS, json.dumps(groups))


def me(link: SimLink) -> str:
    """The account's own JID (its linked device's, without the device number)."""
    jid = link.jid()
    if jid is None:
        raise EngineError("the device is not linked", "not_connected")
    return jid


def public(group: dict[str, Any]) -> dict[str, Any]:
    """A group as the ``group``/``groups`` commands show it (no invite code)."""
    return {k: v for k, v in group.items() if k not in ("inviteCode", "requests")}


class Network:
    """The groups of one simulator engine, across its devices."""

    def __init__(self, engine: Devices) -> None:
        self.engine = engine
        self.invites: dict[str, tuple[Path, str]] = {}  # code -> (a member's folder, group)

    # -- the commands of a device -------------------------------------------------------

    def call(self, link: SimLink, command: str, params: dict[str, Any]) -> dict[str, Any]:
        if command == "group_create":
            return self.create(link, params)
        if command == "group_join":
            return self.join_by_link(link, invite_code(str(params.get("code", ""))))
        handler = getattr(self, "_" + command.removeprefix("group_"))
        result: dict[str, Any] = handler(link, self._member_group(link, params), params)
        return result

    def create(self, link: SimLink, params: dict[str, Any]) -> dict[str, Any]:
        own = me(link)
        jid = f"1203630{secrets.randbelow(10**11):011d}@g.us"
        results, members = [], [{"jid": own, "isAdmin": True, "isSuperAdmin": True}]
        for p in params.get("participants") or []:
            status, extra = self._refusal(str(p))
            results.append({"jid": p, "status": status, **extra})
            if status == 200:
                members.append({"jid": p, "isAdmin": False, "isSuperAdmin": False})
        group = {
            "id": jid,
            "name": str(params["subject"]),
            "topic": "",
            "owner": own,
            "created": int(time.time()),
            "participants": members,
            "announce": False,
            "locked": False,
            "disappearing": 0,
            "approval": False,
            "inviteCode": None,
            "requests": [],
        }
        self._write(link.folder, group)
        link.emit_event(
            "group_participants",
            group=jid,
            action="join",
            participants=[someone(own)],
            by=someone(own),
            reason="created",
            subject=group["name"],
        )
        return {"group": public(group), "participants": results}

    def _subject(self, link: SimLink, group: dict[str, Any], params: dict[str, Any]) -> Any:
        self._need_rights(link, group, "info")
        group["name"] = str(params["subject"])
        return self._changed(link, group, subject=group["name"])

    def _description(self, link: SimLink, group: dict[str, Any], params: dict[str, Any]) -> Any:
        self._need_rights(link, group, "info")
        group["topic"] = str(params.get("description") or "")
        return self._changed(link, group, description=group["topic"])

    def _picture(self, link: SimLink, group: dict[str, Any], params: dict[str, Any]) -> Any:
        self._need_rights(link, group, "info")
        data = Path(str(params["path"])).read_bytes()
        if not data.startswith(JPEG_MAGIC):
            raise EngineError("the group picture must be a JPEG image", "bad_request")
        group["pictureId"] = str(secrets.randbelow(10**10))
        self._changed(link, group, pictureId=group["pictureId"])
        return {"pictureId": group["pictureId"]}

    def _settings(self, link: SimLink, group: dict[str, Any], params: dict[str, Any]) -> Any:
        self._need_rights(link, group, "admin")
        keys: tuple[str, ...] = ("announce", "locked", "disappearing")
        changes: dict[str, Any] = {k: params[k] for k in keys if k in params}
        group.update(changes)
        return self._changed(link, group, **changes)

    def _participants(self, link: SimLink, group: dict[str, Any], params: dict[str, Any]) -> Any:
        self._need_rights(link, group, "admin")
        action, done, results = params["action"], [], []
        for jid in (str(p) for p in params["participants"]):
            status, extra = self._apply(group, action, jid)
            results.append({"jid": jid, "status": status, **extra})
            if status == 200:
                done.append(jid)
        if done:
            self._broadcast(link, group, action, done)
        return {"results": results}

    def _apply(self, group: dict[str, Any], action: str, jid: str) -> tuple[int, dict[str, Any]]:
        members = {p["jid"]: p for p in group["participants"]}
        if action == "add":
            if jid in members:
                return 409, {}
            status, extra = self._refusal(jid)
            if status == 200:
                group["participants"].append({"jid": jid, "isAdmin": False, "isSuperAdmin": False})
            return status, extra
        if jid not in members:
            return 404, {}
        if action == "remove":
            group["participants"].remove(members[jid])
        else:
            members[jid]["isAdmin"] = action == "promote"
        return 200, {}

    def _refusal(self, jid: str) -> tuple[int, dict[str, Any]]:
        number = _number(jid)
        if number.endswith(NOT_ON_WHATSAPP_SUFFIX):
            return 404, {}
        if number.endswith(PRIVACY_SUFFIX):
            expires = int(time.time()) + 3 * 24 * 3600
            return 403, {"inviteCode": secrets.token_urlsafe(12), "inviteExpiration": expires}
        return 200, {}

    def _invite(self, link: SimLink, group: dict[str, Any], params: dict[str, Any]) -> Any:
        self._need_rights(link, group, "admin")
        if params.get("revoke") or not group.get("inviteCode"):
            old = group.get("inviteCode")
            self.invites.pop(old or "", None)
            group["inviteCode"] = secrets.token_urlsafe(16)[:22]
            if old and params.get("revoke"):
                self._changed(link, group, inviteLinkRevoked=True)
            else:
                self._write_all(link, group)
        self.invites[group["inviteCode"]] = (link.folder, group["id"])
        return {"link": INVITE_PREFIX + group["inviteCode"], "code": group["inviteCode"]}

    def _leave(self, link: SimLink, group: dict[str, Any], params: dict[str, Any]) -> Any:
        own = me(link)
        group["participants"] = [p for p in group["participants"] if p["jid"] != own]
        self._broadcast(link, group, "leave", [own], by=own)
        groups = _load(link.folder)
        groups.pop(group["id"], None)
        _save(link.folder, groups)
        return {}

    def _requests(self, link: SimLink, group: dict[str, Any], params: dict[str, Any]) -> Any:
        self._need_rights(link, group, "admin")
        return {
            "requests": [{**someone(r["jid"]), "requestedAt": r["at"]} for r in group["requests"]]
        }

    def _requests_update(self, link: SimLink, group: dict[str, Any], params: dict[str, Any]) -> Any:
        self._need_rights(link, group, "admin")
        if params["action"] not in REQUEST_ACTIONS:
            raise EngineError("action must be approve or reject", "bad_request")
        pending = {r["jid"]: r for r in group["requests"]}
        results, approved = [], []
        for jid in (str(p) for p in params["participants"]):
            if jid not in pending:
                results.append({"jid": jid, "status": 404})
                continue
            group["requests"].remove(pending[jid])
            if params["action"] == "approve":
                group["participants"].append({"jid": jid, "isAdmin": False, "isSuperAdmin": False})
                approved.append(jid)
            results.append({"jid": jid, "status": 200})
        if approved:
            self._broadcast(link, group, "join", approved, reason="approved")
        else:
            self._write_all(link, group)
        return {"results": results}

    # -- what others do: join by link (a device or a virtual contact), vote -------------

    def join_by_link(self, link: SimLink, code: str) -> dict[str, Any]:
        group = self._by_code(code)
        own = me(link)
        if any(p["jid"] == own for p in group["participants"]):
            raise EngineError("already a member of this group", "conflict")
        group["participants"].append({"jid": own, "isAdmin": False, "isSuperAdmin": False})
        self._write(link.folder, group)
        self._broadcast(link, group, "join", [own], by=own, reason="invite")
        return {"id": group["id"]}

    def contact_joins(self, code: str, jid: str, ask: bool = False) -> dict[str, Any]:
        """A virtual contact opens an invite link: it joins, or asks to where the group
        approves its members (or when it ``ask``s)."""
        group = self._by_code(code)
        if any(p["jid"] == jid for p in group["participants"]):
            raise EngineError("already a member of this group", "conflict")
        folder = self.invites[code][0]
        if ask or group.get("approval"):
            group["requests"].append({"jid": jid, "at": int(time.time())})
            self._write(folder, group)
            for other in self._member_links(group):
                self._write(other.folder, group)
            return {"group": group["id"], "pending": True}
        group["participants"].append({"jid": jid, "isAdmin": False, "isSuperAdmin": False})
        self._write(folder, group)
        self._broadcast(None, group, "join", [jid], by=jid, reason="invite")
        return {"group": group["id"], "pending": False}

    def vote(self, link: SimLink, chat: str, voter: str, poll_id: str, options: list[str]) -> None:
        """A virtual contact votes in a poll (a new vote replaces its last one)."""
        link.emit_event(
            "poll_vote",
            pollId=poll_id,
            chat=chat,
            voter=someone(voter),
            selectedHashes=[option_hash(o) for o in options],
            timestamp=int(time.time()),
        )

    # -- helpers ------------------------------------------------------------------------

    def _by_code(self, code: str) -> dict[str, Any]:
        found = self.invites.get(code)
        group = _load(found[0]).get(found[1]) if found else None
        if group is None or group.get("inviteCode") != code:
            raise EngineError("the invite link is not valid (revoked or unknown)", "not_found")
        return group

    def _member_group(self, link: SimLink, params: dict[str, Any]) -> dict[str, Any]:
        group = _load(link.folder).get(str(params.get("id")))
        if group is None:
            raise EngineError(f"not a member of group {params.get('id')}", "not_found")
        # Groups planted by the older add_group lack the administration fields.
        for key, default in (("topic", ""), ("announce", False), ("locked", False)):
            group.setdefault(key, default)
        group.setdefault("disappearing", 0)
        group.setdefault("approval", False)
        group.setdefault("inviteCode", None)
        group.setdefault("requests", [])
        return group

    def _need_rights(self, link: SimLink, group: dict[str, Any], what: str) -> None:
        own = me(link)
        mine = next((p for p in group["participants"] if p["jid"] == own), None)
        is_admin = mine is not None and (mine["isAdmin"] or mine["isSuperAdmin"])
        if what == "info" and not group["locked"] and mine is not None:
            return
        if not is_admin:
            raise EngineError("only the group's admins may do that", "conflict")

    def _changed(self, link: SimLink, group: dict[str, Any], **changes: Any) -> dict[str, Any]:
        self._write_all(link, group)
        by = someone(me(link))
        for other in self._member_links(group, also=link):
            other.emit_event("group_update", group=group["id"], by=by, **changes)
        return {}

    def _broadcast(
        self,
        link: SimLink | None,
        group: dict[str, Any],
        action: str,
        jids: list[str],
        by: str | None = None,
        reason: str | None = None,
    ) -> None:
        if link is not None:
            self._write_all(link, group)
            by = by or me(link)
        else:
            for other in self._member_links(group):
                self._write(other.folder, group)
        extra = {"reason": reason} if reason else {}
        for other in self._member_links(group, also=link):
            other.emit_event(
                "group_participants",
                group=group["id"],
                action=action,
                participants=[someone(j) for j in jids],
                by=someone(by) if by else None,
                **extra,
            )

    def _member_links(self, group: dict[str, Any], also: SimLink | None = None) -> list[SimLink]:
        """The live devices that are members (and ``also``, the one acting)."""
        members = {p["jid"] for p in group["participants"]}
        found = []
        for other in self.engine.live_links():
            try:
                if other is also or me(other) in members:
                    found.append(other)
            except FileNotFoundError:  # not paired yet: no account, no groups
                continue
        return found

    def _write_all(self, link: SimLink, group: dict[str, Any]) -> None:
        self._write(link.folder, group)
        for other in self._member_links(group):
            if other is not link:
                self._write(other.folder, group)

    def _write(self, folder: Path, group: dict[str, Any]) -> None:
        groups = _load(folder)
        groups[group["id"]] = group
        _save(folder, groups)
        if group.get("inviteCode"):
            self.invites[group["inviteCode"]] = (folder, group["id"])
