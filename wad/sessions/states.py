"""A session's connection states, in their lifecycle order."""

from __future__ import annotations

STATES = (
    "disconnected",
    "connecting",
    "waiting_qr",
    "connected",
    "logged_out",
    "failed",
    "stopped",
)
