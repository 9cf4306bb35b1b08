"""The account's own profile (push name, about, picture) and its privacy settings.
Reading needs the admin token or the session's API key; a change, the API key."""

from __future__ import annotations

from quart import Blueprint, Response
from quart_schema import document_request, document_response

from wad.http import contacts_schemas as schemas
from wad.http.context import services
from wad.http.helpers import body, ok, require_admin_or_key, require_session_key
from wad.http.openapi import ENGINE, api
from wad.http.schemas import Ok
from wad.validation import device_id as valid_device_id

bp = Blueprint("profile", __name__, url_prefix="/api/sessions/<device_id>")
TAG = "Profile"


@bp.get("/profile")
@api("getProfile", TAG, "admin_or_key", errors=ENGINE)
@document_response(schemas.OwnProfile)
async def get_profile(device_id: str) -> Response:
    """The account's push name, about text and picture."""
    await require_admin_or_key(valid_device_id(device_id))
    return ok(**await services().profile.get(device_id))


@bp.patch("/profile")
@api("updateProfile", TAG, "key", errors=ENGINE)
@document_request(schemas.ProfileUpdate)
@document_response(schemas.OwnProfile)
async def update_profile(device_id: str) -> Response:
    """Change the push name and/or the about text; answers the profile."""
    await require_session_key(valid_device_id(device_id))
    data = await body(schemas.ProfileUpdate)
    return ok(**await services().profile.update(device_id, data.pushName, data.about))


@bp.put("/profile/picture")
@api("setProfilePicture", TAG, "key", errors=ENGINE)
@document_request(schemas.Picture)
@document_response(schemas.PictureSet)
async def set_picture(device_id: str) -> Response:
    """Set the profile picture (a JPEG)."""
    await require_session_key(valid_device_id(device_id))
    data = await body(schemas.Picture)
    return ok(**await services().profile.set_picture(device_id, data.data))


@bp.delete("/profile/picture")
@api("removeProfilePicture", TAG, "key", errors=ENGINE)
@document_response(Ok)
async def remove_picture(device_id: str) -> Response:
    """Remove the profile picture (neonize 0.5 cannot: it answers 400 `bad_request`)."""
    await require_session_key(valid_device_id(device_id))
    await services().profile.remove_picture(device_id)
    return ok(message="Profile picture removed")


@bp.get("/privacy")
@api("getPrivacy", TAG, "admin_or_key", errors=ENGINE)
@document_response(schemas.Privacy)
async def get_privacy(device_id: str) -> Response:
    """Who sees the account's last seen, online, picture and about, who may add it to
    groups, whether it sends read receipts, who may call it."""
    await require_admin_or_key(valid_device_id(device_id))
    return ok(settings=await services().profile.privacy(device_id))


@bp.patch("/privacy")
@api("updatePrivacy", TAG, "key", errors=ENGINE)
@document_request(schemas.PrivacySettings)
@document_response(schemas.Privacy)
async def update_privacy(device_id: str) -> Response:
    """Change one or more privacy settings; answers them all."""
    await require_session_key(valid_device_id(device_id))
    data = await body(schemas.PrivacySettings)
    changes = data.model_dump(exclude_none=True)
    return ok(settings=await services().profile.set_privacy(device_id, changes))
