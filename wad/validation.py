"""Input rules shared by every door (REST, control socket, dashboard form)."""

from __future__ import annotations

import re

from wad.errors import bad_request

DEVICE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
_DEVICE_ID = re.compile(DEVICE_ID_PATTERN)
_NUMBER_JUNK = re.compile(r"[+\s-]")
_DIGITS = re.compile(r"^[0-9]{6,15}$")
MESSAGE_MAX = 4096
CUSTOM_KEY_MIN = 16
CUSTOM_KEY_MAX = 256


def device_id(value: object) -> str:
    """A deviceId is used in paths and file names: a strict pattern, nothing else."""
    if not isinstance(value, str) or not _DEVICE_ID.fullmatch(value):
        raise bad_request(
            "deviceId must be 1-64 characters: letters, digits, '_' or '-', "
            "starting with a letter or digit"
        )
    return value


def phone_number(value: object, field: str = "number") -> str:
    """Digits only, 6 to 15 of them, after removing '+', spaces and dashes."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise bad_request(f"{field} must be a string of 6-15 digits")
    digits = _NUMBER_JUNK.sub("", value)
    if not _DIGITS.fullmatch(digits):
        raise bad_request(
            f"{field} must be 6-15 digits (country code first); '+', spaces and dashes are ignored"
        )
    return digits


def message_text(value: object, field: str = "message") -> str:
    if not isinstance(value, str) or not value.strip():
        raise bad_request(f"{field} must be a non-empty string")
    if len(value) > MESSAGE_MAX:
        raise bad_request(f"{field} must be at most {MESSAGE_MAX} characters")
    return value


def custom_key(value: object) -> str:
    if not isinstance(value, str):
        raise bad_request("apiKey must be a string")
    if (
        not (CUSTOM_KEY_MIN <= len(value) <= CUSTOM_KEY_MAX)
        or not value.isprintable()
        or " " in value
    ):
        raise bad_request(
            f"apiKey must be {CUSTOM_KEY_MIN}-{CUSTOM_KEY_MAX} printable characters without spaces"
        )
    return value


def user_jid(number: str) -> str:
    return f"{number}@s.whatsapp.net"
