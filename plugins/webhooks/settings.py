"""The webhook plugin's settings: the environment, else ``[plugins.webhooks]`` in TOML."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from wad.config import plugin_setting
from wad.net.guard import IPNetwork, parse_networks

DEFAULT_SCHEDULE = "5s,5m,30m,2h,5h,10h"
# An endpoint whose every attempt failed for this long is disabled: long enough for an
# outage and its repair (its parked deliveries go when it is enabled again), far
# shorter than the retry schedule (17.6 h), which alone kept a dead endpoint enabled
# and retried for most of a day.
DEFAULT_DISABLE_AFTER_TIME = "6h"
MAX_DISABLE_AFTER_TIME = 365 * 86400
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
_STEP = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$")
MAX_STEP = 7 * 86400


def parse_schedule(value: object) -> tuple[float, ...]:
    """``"5s,5m,30m,2h"`` -> seconds to wait before each retry (units ms, s, m, h, d;
    a bare number is seconds). An empty schedule means no retries."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise ValueError("expected a comma-separated list such as 5s,5m,30m")
    steps = []
    for item in items:
        text = str(item).strip().lower()
        if not text:
            continue
        match = _STEP.fullmatch(text)
        if match is None:
            raise ValueError(f"{text!r} is not a delay such as 30s, 5m or 2h")
        seconds = float(match[1]) * _UNITS[match[2] or "s"]
        if not 0 < seconds <= MAX_STEP:
            raise ValueError(f"{text!r}: each delay must be above 0 and at most 7 days")
        steps.append(seconds)
    if len(steps) > 20:
        raise ValueError("at most 20 retries")
    return tuple(steps)


def parse_duration(value: object) -> float:
    """``"6h"`` -> seconds (units ms, s, m, h, d; a bare number is seconds); above 0 and
    at most a year."""
    match = _STEP.fullmatch(str(value).strip().lower())
    if match is None:
        raise ValueError(f"{value!r} is not a duration such as 30m, 6h or 1d")
    seconds = float(match[1]) * _UNITS[match[2] or "s"]
    if not 0 < seconds <= MAX_DISABLE_AFTER_TIME:
        raise ValueError(f"{value!r}: must be above 0 and at most 365 days")
    return seconds


def _positive(cast: Any) -> Any:
    def convert(raw: Any) -> Any:
        value = cast(raw)
        if value <= 0:
            raise ValueError
        return value

    return convert


@dataclass(frozen=True, slots=True)
class Settings:
    allow_networks: tuple[IPNetwork, ...] = ()
    retry_schedule: tuple[float, ...] = parse_schedule(DEFAULT_SCHEDULE)
    timeout: float = 10.0
    concurrency: int = 64
    endpoint_concurrency: int = 16
    disable_after: int = 20
    disable_after_time: float = parse_duration(DEFAULT_DISABLE_AFTER_TIME)
    max_pending: int = 10_000
    log_keep: int = 1000

    @classmethod
    def load(cls, config: Any) -> Settings:
        def get(name: str, variable: str, default: Any, cast: Any) -> Any:
            return plugin_setting(config, "webhooks", name, variable, default, cast)

        return cls(
            allow_networks=get("allow_networks", "WAD_WEBHOOK_ALLOW_NETWORKS", (), parse_networks),
            retry_schedule=get(
                "retry_schedule",
                "WAD_WEBHOOK_RETRY_SCHEDULE",
                parse_schedule(DEFAULT_SCHEDULE),
                parse_schedule,
            ),
            timeout=get("timeout", "WAD_WEBHOOK_TIMEOUT", 10.0, _positive(float)),
            concurrency=get("concurrency", "WAD_WEBHOOK_CONCURRENCY", 64, _positive(int)),
            endpoint_concurrency=get(
                "endpoint_concurrency", "WAD_WEBHOOK_ENDPOINT_CONCURRENCY", 16, _positive(int)
            ),
            disable_after=get("disable_after", "WAD_WEBHOOK_DISABLE_AFTER", 20, _positive(int)),
            disable_after_time=get(
                "disable_after_time",
                "WAD_WEBHOOK_DISABLE_AFTER_TIME",
                parse_duration(DEFAULT_DISABLE_AFTER_TIME),
                parse_duration,
            ),
            max_pending=get("max_pending", "WAD_WEBHOOK_MAX_PENDING", 10_000, _positive(int)),
            log_keep=get("log_keep", "WAD_WEBHOOK_LOG_KEEP", 1000, _positive(int)),
        )
