"""Bodies and answers of group administration, polls and status posts, and the
payloads of their events (:mod:`wad.http.event_schemas` names the events)."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from wad.http.schemas import Body, MediaSource, Ok, Participant

PeopleIn = list[str | int]


class Person(Body):
    """Someone as WhatsApp addressed them, with both of their ids where known."""

    jid: str = Field(description="the address WhatsApp used: a phone JID or a privacy id")
    phone: str | None = Field(description="their phone-number JID (`...@s.whatsapp.net`)")
    lid: str | None = Field(description="their privacy id (`...@lid`)")


class GroupDetail(Body):
    id: str = Field(examples=["120363000000000001@g.us"])
    name: str
    topic: str | None = Field(None, description="the description")
    participants: list[Participant]
    announce: bool | None = Field(None, description="only admins may send")
    locked: bool | None = Field(None, description="only admins may change the group's info")
    disappearing: int | None = Field(None, description="disappearing messages, seconds (0: off)")


class ParticipantResult(Body):
    jid: str
    status: int = Field(
        description="200: done; else WhatsApp's refusal for this one: 403 their privacy "
        "settings (an `inviteCode` may come to send them instead), 404 not on WhatsApp or "
        "not a member, 409 already a member",
        examples=[200, 403],
    )
    inviteCode: str | None = None
    inviteExpiration: int | None = Field(None, description="Unix time, seconds")


class CreateGroup(Body):
    subject: str = Field(max_length=100, examples=["Team"])
    participants: PeopleIn = Field(
        default_factory=list, description="phone numbers or user JIDs", examples=[["15550002222"]]
    )


class GroupCreated(Ok):
    group: GroupDetail
    participants: list[ParticipantResult]


class GroupSubject(Body):
    subject: str = Field(max_length=100)


class GroupSubjectSet(Ok):
    id: str
    subject: str


class GroupDescription(Body):
    description: str = Field(max_length=2048, description="empty removes it")


class GroupDescriptionSet(Ok):
    id: str
    description: str


class GroupPicture(Body):
    data: str = Field(description="a JPEG image, base64")


class GroupPictureSet(Ok):
    id: str
    pictureId: str | None


Disappearing = Literal[0, 86400, 604800, 7776000]


class GroupSettings(Body):
    announce: bool | None = Field(None, description="only admins may send")
    locked: bool | None = Field(None, description="only admins may change the group's info")
    disappearing: Disappearing | None = Field(
        None, description="disappearing messages: 0 (off), 24 h, 7 days or 90 days, in seconds"
    )


class GroupSettingsSet(Ok):
    id: str
    announce: bool | None = None
    locked: bool | None = None
    disappearing: int | None = None


class Participants(Body):
    participants: PeopleIn = Field(
        min_length=1, description="phone numbers or user JIDs", examples=[["15550002222"]]
    )


class ParticipantsChanged(Ok):
    id: str
    action: str
    results: list[ParticipantResult]


class GroupInvite(Ok):
    id: str
    link: str = Field(examples=["https://chat.whatsapp.com/AbCdEfGhIjKlMnOpQrStUv"])
    code: str


class JoinGroup(Body):
    link: str = Field(description="an invite link, or its code")


class GroupJoined(Ok):
    id: str | None


class GroupLeft(Ok):
    id: str


class JoinRequest(Person):
    requestedAt: int | None = Field(description="Unix time, seconds")


class JoinRequestList(Ok):
    id: str
    requests: list[JoinRequest]


class SendPoll(Body):
    to: str | int = Field(description="phone number, user JID or group JID (...@g.us)")
    question: str = Field(max_length=255, examples=["Lunch?"])
    options: list[str] = Field(min_length=2, max_length=12, examples=[["Pizza", "Sushi"]])
    selectableCount: int = Field(1, ge=0, description="how many one may choose; 0: any number")
    replyTo: str | None = Field(None, description="id of a message to quote")


class PollOption(Body):
    name: str
    votes: int


class PollVote(Body):
    voter: Person
    options: list[str]
    timestamp: int


class PollTally(Body):
    id: str
    chat: str
    question: str | None
    selectableCount: int | None
    options: list[PollOption]
    votes: list[PollVote] = Field(description="each voter's latest vote, oldest first")


class PollTallyAnswer(Ok):
    poll: PollTally


class PostStatus(Body):
    type: Literal["text", "image", "video"] = "text"
    text: str | None = None
    caption: str | None = None
    media: MediaSource | None = None


# -- event payloads --------------------------------------------------------------------


class GroupParticipantsPayload(Body):
    group: str
    action: Literal["add", "remove", "promote", "demote", "join", "leave"]
    participants: list[Person]
    by: Person | None
    reason: str | None = None
    subject: str | None = Field(None, description="with `join`: the group's subject")


class GroupUpdatePayload(Body):
    """What changed; only the fields that did are present."""

    model_config = ConfigDict(extra="allow")

    group: str
    by: Person | None
    subject: str | None = None
    description: str | None = None
    announce: bool | None = None
    locked: bool | None = None
    disappearing: int | None = None
    inviteLinkRevoked: bool | None = None
    pictureId: str | None = None
    pictureRemoved: bool | None = None
    deleted: bool | None = None


class PollVotePayload(Body):
    pollId: str | None = Field(description="wad's id of the poll (None: a poll not stored)")
    waPollId: str
    chat: str
    voter: Person
    options: list[str] = Field(description="the options chosen (empty: the vote withdrawn)")
    timestamp: int
    unknownOptions: list[str] | None = Field(
        None, description="hashes of chosen options this session does not know"
    )
