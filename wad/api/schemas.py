"""Request and response bodies, for parsing and for the OpenAPI document.

Types are checked here; the rules with clear messages (deviceId pattern, phone
numbers, lengths) live in :mod:`wad.validation`, shared with the control socket.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ..session import STATES
from ..validation import DEVICE_ID_PATTERN, MESSAGE_MAX

State = Literal[STATES]  # type: ignore[valid-type]


class Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Error(Body):
    success: Literal[False] = False
    error: str


class Ok(Body):
    success: Literal[True] = True
    message: str | None = None


class CreateSession(Body):
    deviceId: str = Field(json_schema_extra={"pattern": DEVICE_ID_PATTERN}, examples=["my-device"])


class SessionCreated(Ok):
    deviceId: str


class SessionSummary(Body):
    deviceId: str
    connectionState: State
    hasApiKey: bool
    phoneNumber: str | None
    createdAt: str
    isActive: bool
    lastError: str | None
    nextRetryAt: str | None
    updatedAt: str


class SessionDetail(SessionSummary):
    apiKeyMasked: str | None


class SessionList(Ok):
    sessions: list[SessionSummary]


class SessionOne(Ok):
    session: SessionDetail


class QrCode(Ok):
    qrCode: str
    qrImage: str = Field(description="PNG image of the QR code as a data URL")


class SetApiKey(Body):
    apiKey: str | None = Field(None, description="custom key (16+ characters); omit to generate")


class ApiKeySet(Ok):
    apiKey: str = Field(description="the full key; shown only in this response")


class SendText(Body):
    deviceId: str = Field(json_schema_extra={"pattern": DEVICE_ID_PATTERN})
    number: str | int = Field(description="6-15 digits, country code first",
                              examples=["15550001111"])
    message: str = Field(json_schema_extra={"maxLength": MESSAGE_MAX, "minLength": 1},
                         examples=["Hello from wad"])


class Sent(Ok):
    status: Literal["sent"]
    to: str
    id: str
    timestamp: int


class PhoneScan(Body):
    phoneNumber: str | int


class PhoneIncoming(Body):
    from_: str | int = Field(alias="from")
    message: str


class PhoneReceipt(Body):
    messageId: str
    status: Literal["delivered", "read", "played"] = "delivered"


class Health(Body):
    status: Literal["ok"]
    version: str
