"""Group administration under the session's path, with the session's API key.

The group list and one group (``GET .../groups``, ``GET .../groups/{id}``) stay in
:mod:`wad.http.send`; these change groups. Each answers once WhatsApp did.
"""

from __future__ import annotations

from quart import Blueprint, Response
from quart_schema import document_request, document_response

from wad.engines.group_events import PARTICIPANT_ACTIONS, REQUEST_ACTIONS
from wad.http import group_schemas as gs
from wad.http.context import services
from wad.http.helpers import body, ok, require_admin_or_key, require_session_key
from wad.http.openapi import ENGINE, api
from wad.services.groups import Groups
from wad.validation import device_id as valid_device_id

bp = Blueprint("groups", __name__, url_prefix="/api/sessions/<device_id>/groups")
TAG = "Contacts and groups"


async def _groups(device_id: str, admin_may: bool = False) -> Groups:
    valid_device_id(device_id)
    if admin_may:
        await require_admin_or_key(device_id)
    else:
        await require_session_key(device_id)
    return services().groups


@bp.post("")
@api("createGroup", TAG, "key", errors=ENGINE)
@document_request(gs.CreateGroup)
@document_response(gs.GroupCreated, 201)
async def create(device_id: str) -> Response:
    """Create a group with this account as its admin; each participant's result says
    whether WhatsApp added them (some refuse by their privacy settings)."""
    groups = await _groups(device_id)
    data = await body(gs.CreateGroup)
    return ok(201, **await groups.create(device_id, data.subject, data.participants))


@bp.post("/join")
@api("joinGroup", TAG, "key", errors=ENGINE)
@document_request(gs.JoinGroup)
@document_response(gs.GroupJoined)
async def join(device_id: str) -> Response:
    """Join a group by its invite link (or code)."""
    groups = await _groups(device_id)
    data = await body(gs.JoinGroup)
    return ok(**await groups.join(device_id, data.link))


@bp.put("/<group_id>/subject")
@api("setGroupSubject", TAG, "key", errors=ENGINE)
@document_request(gs.GroupSubject)
@document_response(gs.GroupSubjectSet)
async def subject(device_id: str, group_id: str) -> Response:
    """Rename the group."""
    groups = await _groups(device_id)
    data = await body(gs.GroupSubject)
    return ok(**await groups.set_subject(device_id, group_id, data.subject))


@bp.put("/<group_id>/description")
@api("setGroupDescription", TAG, "key", errors=ENGINE)
@document_request(gs.GroupDescription)
@document_response(gs.GroupDescriptionSet)
async def description(device_id: str, group_id: str) -> Response:
    """Set the group's description (empty removes it)."""
    groups = await _groups(device_id)
    data = await body(gs.GroupDescription)
    return ok(**await groups.set_description(device_id, group_id, data.description))


@bp.put("/<group_id>/picture")
@api("setGroupPicture", TAG, "key", errors=ENGINE)
@document_request(gs.GroupPicture)
@document_response(gs.GroupPictureSet)
async def picture(device_id: str, group_id: str) -> Response:
    """Set the group's picture (a JPEG, base64)."""
    groups = await _groups(device_id)
    data = await body(gs.GroupPicture)
    return ok(**await groups.set_picture(device_id, group_id, data.data))


@bp.patch("/<group_id>/settings")
@api("setGroupSettings", TAG, "key", errors=ENGINE)
@document_request(gs.GroupSettings)
@document_response(gs.GroupSettingsSet)
async def settings(device_id: str, group_id: str) -> Response:
    """Who may send (`announce`), who may change the info (`locked`), and disappearing
    messages; only what is given changes."""
    groups = await _groups(device_id)
    data = await body(gs.GroupSettings)
    return ok(**await groups.settings(device_id, group_id, data.model_dump(exclude_none=True)))


def _participants_route(action: str) -> None:
    async def change(device_id: str, group_id: str) -> Response:
        groups = await _groups(device_id)
        data = await body(gs.Participants)
        return ok(**await groups.participants(device_id, group_id, action, data.participants))

    change.__name__ = f"participants_{action}"
    change.__doc__ = (
        f"{action.capitalize()} participants; one result each (WhatsApp may refuse some)."
    )
    route = document_response(gs.ParticipantsChanged)(change)
    route = document_request(gs.Participants)(route)
    route = api(f"{action}GroupParticipants", TAG, "key", errors=ENGINE)(route)
    bp.post(f"/<group_id>/participants/{action}")(route)


for _action in PARTICIPANT_ACTIONS:
    _participants_route(_action)


@bp.get("/<group_id>/invite")
@api("getGroupInvite", TAG, "key", errors=ENGINE)
@document_response(gs.GroupInvite)
async def invite(device_id: str, group_id: str) -> Response:
    """The group's invite link (admins only)."""
    groups = await _groups(device_id)
    return ok(**await groups.invite(device_id, group_id))


@bp.delete("/<group_id>/invite")
@api("revokeGroupInvite", TAG, "key", errors=ENGINE)
@document_response(gs.GroupInvite)
async def revoke_invite(device_id: str, group_id: str) -> Response:
    """Revoke the invite link; answers the new one."""
    groups = await _groups(device_id)
    return ok(**await groups.invite(device_id, group_id, revoke=True))


@bp.post("/<group_id>/leave")
@api("leaveGroup", TAG, "key", errors=ENGINE)
@document_response(gs.GroupLeft)
async def leave(device_id: str, group_id: str) -> Response:
    """Leave the group."""
    groups = await _groups(device_id)
    return ok(**await groups.leave(device_id, group_id))


@bp.get("/<group_id>/requests")
@api("listGroupJoinRequests", TAG, "admin_or_key", errors=ENGINE)
@document_response(gs.JoinRequestList)
async def requests(device_id: str, group_id: str) -> Response:
    """The people waiting for an admin to let them in."""
    groups = await _groups(device_id, admin_may=True)
    return ok(**await groups.requests(device_id, group_id))


def _requests_route(action: str) -> None:
    async def answer(device_id: str, group_id: str) -> Response:
        groups = await _groups(device_id)
        data = await body(gs.Participants)
        return ok(**await groups.answer_requests(device_id, group_id, action, data.participants))

    answer.__name__ = f"requests_{action}"
    answer.__doc__ = f"{action.capitalize()} requests to join; one result each."
    route = document_response(gs.ParticipantsChanged)(answer)
    route = document_request(gs.Participants)(route)
    route = api(f"{action}GroupJoinRequests", TAG, "key", errors=ENGINE)(route)
    bp.post(f"/<group_id>/requests/{action}")(route)


for _action in REQUEST_ACTIONS:
    _requests_route(_action)
