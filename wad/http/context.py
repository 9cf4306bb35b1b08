"""The daemon's services behind the app, for the routes."""

from __future__ import annotations

from quart import current_app

from wad.services import Services


def services() -> Services:
    found: Services = current_app.config["WAD_SERVICES"]
    return found
