"""The daemon's services behind the app, for the routes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from quart import current_app

from wad.services import Services

if TYPE_CHECKING:
    from wad.hooks import DaemonAPI


def daemon() -> DaemonAPI:
    found: DaemonAPI = current_app.config["WAD_DAEMON"]
    return found


def services() -> Services:
    found: Services = current_app.config["WAD_SERVICES"]
    return found
