"""What may be sent: the rules for every message type, checked before anything reaches WhatsApp.

A request is turned into the engine's ``send`` command: ``{"type", "to", ...}``
with ``text`` (text), ``caption``/``media``/``fileName``/``ptt`` (media),
``location`` or ``contact``, and the optional ``replyTo`` and ``mentions``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from wad import validation
from wad.errors import bad_request

MiB = 1024 * 1024
MEDIA_TYPES = ("image", "video", "audio", "document", "sticker")
TYPES = ("text", *MEDIA_TYPES, "location", "contact", "poll")
# A poll, as WhatsApp's clients allow one.
POLL_QUESTION_MAX, POLL_OPTIONS, POLL_OPTION_MAX = 255, (2, 12), 100

# WhatsApp's own limits (what its clients accept), per media type.
MEDIA_LIMITS = {
    "image": 16 * MiB,
    "video": 64 * MiB,
    "audio": 16 * MiB,
    "document": 100 * MiB,
    "sticker": 1 * MiB,
}
LARGEST_MEDIA = max(MEDIA_LIMITS.values())
MEDIA_MIME = {
    "image": ("image/jpeg", "image/png", "image/webp"),
    "video": ("video/mp4", "video/3gpp"),
    "audio": ("audio/ogg", "audio/mpeg", "audio/mp4", "audio/aac", "audio/amr", "audio/opus"),
    "sticker": ("image/webp",),
    "document": None,  # any type
}
CAPTION_MAX = 1024
_USER_JID = re.compile(r"^([0-9]{6,15})@s\.whatsapp\.net$")
_GROUP_JID = re.compile(r"^[0-9]{6,30}(-[0-9]{1,15})?@g\.us$")
_LID_JID = re.compile(r"^[0-9]{1,20}@lid$")
_MIME = re.compile(r"^[a-z]+/[a-z0-9.+-]+$")
_FILE_NAME_BAD = re.compile(r"[\x00-\x1f/\\]")


@dataclass(frozen=True, slots=True)
class MediaFile:
    """Media saved in the session's folder, ready for the engine."""

    path: str
    mimetype: str
    size: int
    sha256: str
    file_name: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "mimetype": self.mimetype,
            "size": self.size,
            "sha256": self.sha256,
            "fileName": self.file_name,
        }


def recipient(value: object, field: str = "to") -> str:
    """A phone number (-> its user JID), a user JID, a LID or a group JID."""
    if isinstance(value, str) and ("@" in value):
        if _USER_JID.fullmatch(value) or _GROUP_JID.fullmatch(value) or _LID_JID.fullmatch(value):
            return value
        raise bad_request(
            f"{field} must be a phone number, a user JID (...@s.whatsapp.net), "
            "a LID (...@lid) or a group JID (...@g.us)"
        )
    return validation.user_jid(validation.phone_number(value, field))


def is_group(jid: str) -> bool:
    return jid.endswith("@g.us")


def mimetype(value: object, type_: str) -> str:
    if not isinstance(value, str) or not _MIME.fullmatch(value.lower()):
        raise bad_request("media.mimetype must be a MIME type such as image/jpeg")
    value = value.lower()
    allowed = MEDIA_MIME[type_]
    if allowed is not None and value not in allowed:
        raise bad_request(f"a {type_} must be one of {', '.join(allowed)}, not {value}")
    return value


def file_name(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= 255 or _FILE_NAME_BAD.search(value):
        raise bad_request("fileName must be 1-255 characters without slashes or control characters")
    return value


def media_limit(type_: str) -> int:
    return MEDIA_LIMITS[type_]


def fields(spec: dict[str, Any]) -> dict[str, Any]:
    """Check a send request's own fields (not its media bytes); return what to store."""
    type_ = spec.get("type", "text")
    if type_ not in TYPES:
        raise bad_request(f"type must be one of {', '.join(TYPES)}")
    out: dict[str, Any] = {"type": type_}
    if type_ == "text":
        out["text"] = validation.message_text(spec.get("text"), "text")
    elif type_ in MEDIA_TYPES:
        caption = spec.get("caption")
        if caption is not None:
            if type_ in ("audio", "sticker"):
                raise bad_request(f"a {type_} has no caption")
            if not isinstance(caption, str) or len(caption) > CAPTION_MAX:
                raise bad_request(f"caption must be a string of at most {CAPTION_MAX} characters")
            out["caption"] = caption
        if type_ == "audio":
            out["ptt"] = bool(spec.get("ptt", False))
    elif type_ == "location":
        out["location"] = _location(spec.get("location"))
    elif type_ == "contact":
        out["contact"] = _contact(spec.get("contact"))
    elif type_ == "poll":
        out["poll"] = _poll(spec.get("poll"))
    mentions = spec.get("mentions")
    if mentions is not None:
        if not isinstance(mentions, list) or len(mentions) > 256:
            raise bad_request("mentions must be a list of at most 256 phone numbers or JIDs")
        out["mentions"] = [recipient(m, "mentions[]") for m in mentions]
    return out


def _location(value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise bad_request("location must be an object with latitude and longitude")
    try:
        lat, lng = float(value["latitude"]), float(value["longitude"])
    except (KeyError, TypeError, ValueError):
        raise bad_request("location.latitude and location.longitude must be numbers") from None
    if not (-90 <= lat <= 90 and -180 <= lng <= 180):
        raise bad_request("location is out of range (latitude -90..90, longitude -180..180)")
    out: dict[str, Any] = {"latitude": lat, "longitude": lng}
    for key in ("name", "address"):
        text = value.get(key)
        if text is not None:
            if not isinstance(text, str) or len(text) > 256:
                raise bad_request(f"location.{key} must be a string of at most 256 characters")
            out[key] = text
    return out


def _contact(value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise bad_request("contact must be an object with displayName and vcard")
    name, vcard = value.get("displayName"), value.get("vcard")
    if not isinstance(name, str) or not 1 <= len(name) <= 256:
        raise bad_request("contact.displayName must be 1-256 characters")
    if (
        not isinstance(vcard, str)
        or not vcard.startswith("BEGIN:VCARD")
        or "END:VCARD" not in vcard
        or len(vcard) > 16_384
    ):
        raise bad_request("contact.vcard must be a vCard (BEGIN:VCARD ... END:VCARD)")
    return {"displayName": name, "vcard": vcard}


def _poll(value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise bad_request("poll must be an object with question and options")
    question, options = value.get("question"), value.get("options")
    if not isinstance(question, str) or not 1 <= len(question.strip()) <= POLL_QUESTION_MAX:
        raise bad_request(f"poll.question must be 1-{POLL_QUESTION_MAX} characters")
    low, high = POLL_OPTIONS
    if (
        not isinstance(options, list)
        or not low <= len(options) <= high
        or not all(isinstance(o, str) and 1 <= len(o.strip()) <= POLL_OPTION_MAX for o in options)
    ):
        raise bad_request(
            f"poll.options must be {low}-{high} texts of 1-{POLL_OPTION_MAX} characters"
        )
    if len(set(options)) != len(options):
        # A vote names its options by a hash of their text: two alike cannot be told apart.
        raise bad_request("poll.options must differ from each other")
    count = value.get("selectableCount", 1)
    if not isinstance(count, int) or isinstance(count, bool) or not 0 <= count <= len(options):
        raise bad_request("poll.selectableCount must be 0 (any number) up to the options' count")
    return {"question": question, "options": list(options), "selectableCount": count}
