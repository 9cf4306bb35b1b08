"""Bodies of the LID and phone-number routes and of the per-session options (proxy,
history), for parsing and for the OpenAPI document."""

from __future__ import annotations

from pydantic import Field

from wad.http.schemas import Ok


class ContactIds(Ok):
    jid: str = Field(
        description="what was asked, as a JID", examples=["15550002222@s.whatsapp.net"]
    )
    phone: str | None = Field(description="the phone-number JID; null: not known")
    lid: str | None = Field(description="the LID (`<digits>@lid`); null: not known")
    phoneNumber: str | None = Field(description="the phone number's digits")
