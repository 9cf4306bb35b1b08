"""The daemon behind the app, for the routes."""

from __future__ import annotations

from quart import current_app

from wad.services.service import Service


def service() -> Service:
    return current_app.config["WAD_SERVICE"]
