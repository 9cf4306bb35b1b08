"""Configuration: typed defaults, then a TOML file, then ``WAD_*`` variables, then flags.

Each setting has one name. In TOML it is that name (``state_dir = "..."``), in
the environment ``WAD_`` plus the name in capitals (``WAD_STATE_DIR``), on the
command line ``--`` plus the name with dashes (``--state-dir``) where a flag
exists. Later sources win: flags over environment over file over defaults.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import socket
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENGINES = ("neonize", "simulator")
# The shortest admin token accepted: the token opens everything, and a short one
# is guessed from far away (the lock-out slows guessing, it does not stop it).
ADMIN_TOKEN_MIN = 32


class ConfigError(ValueError):
    """A setting has a value that cannot be used; the message names it."""


def default_state_dir(env: Mapping[str, str]) -> Path:
    if env.get("STATE_DIRECTORY"):
        # systemd may pass several, colon-separated; the first is ours.
        return Path(env["STATE_DIRECTORY"].split(":")[0])
    home = env.get("HOME") or os.path.expanduser("~")
    base = env.get("XDG_STATE_HOME") or os.path.join(home, ".local", "state")
    return Path(base) / "wad"


@dataclass
class Config:
    state_dir: Path = Path()
    http: str = "127.0.0.1:3000"
    engine: str = "neonize"
    admin_token: str | None = None
    control_socket: Path | None = None
    control_group: str = "wad-admin"
    log_level: str = "INFO"
    # Sessions
    pairing_timeout: float = 300.0
    backoff_initial: float = 2.0
    backoff_cap: float = 300.0
    # Liveness (wad.sessions.liveness): a connected session quiet this long is probed;
    # a probe unanswered within liveness_timeout, or keep-alives failing for
    # degraded_reconnect_after, end its connection (it reconnects).
    liveness_interval: float = 60.0
    liveness_timeout: float = 20.0
    degraded_reconnect_after: float = 120.0
    # Messages a session sends a day to contacts who never wrote to it; 0: no cap.
    new_contact_daily_cap: int = 200
    worker_grace: float = 5.0
    # neonize: sessions one worker process holds (memory against blast radius: README,
    # Performance), and the crashes in a row of a shared worker that put a session alone.
    sessions_per_worker: int = 16
    quarantine_after: int = 3
    # Simulator
    qr_interval: float = 20.0
    # Limits
    max_body: int = 64 * 1024
    # Media by URL: networks it may reach although not public (CIDRs), and the time
    # limit of one fetch (s), from resolving the host to the last byte.
    media_allow_networks: list[str] = field(default_factory=list)
    media_fetch_timeout: float = 30.0
    max_sessions: int = 500  # sessions one daemon holds at most; 0: no cap
    retention_days: float = 30.0  # messages, events, idempotency keys kept; 0: forever
    # JSON bodies that carry media as base64 (sends): buffered whole, so kept small;
    # larger media goes as multipart/form-data, which streams to disk.
    max_json_media: int = 5 * 1024 * 1024
    # Bodies over 1 MiB (not multipart) read and parsed at once; more wait, then 503.
    max_large_bodies: int = 4
    # HTTP connections: open at once (beyond: 503 and close), idle keep-alive (s).
    max_connections: int = 1000
    keep_alive_timeout: float = 5.0
    # On stop, how long open requests may take to finish before they get 503 (s).
    shutdown_timeout: float = 10.0
    # Metrics: addresses (CIDRs) that may scrape /metrics without the admin token.
    metrics_allow: list[str] = field(default_factory=list)
    # Reverse proxies (CIDRs) whose X-Forwarded-For/-Proto and Forwarded are believed.
    trusted_proxies: list[str] = field(default_factory=list)
    # A cluster (README, Running a cluster): the PostgreSQL server that holds the state
    # of every node (unset: the embedded SQLite wad.db), this node's name (unset: the
    # host name), the URL the other nodes reach it at, and the secret the nodes
    # authenticate each other with (never logged, never in an answer).
    database_url: str | None = None
    node_id: str | None = None
    node_url: str | None = None
    cluster_secret: str | None = None
    # Plugins (built-in and third-party), by name, that must not load.
    disable_plugins: list[str] = field(default_factory=list)
    # Free-form settings for plugins: [plugins.NAME] tables in TOML.
    plugin_settings: dict[str, Any] = field(default_factory=dict)

    @property
    def node(self) -> str:
        """This node's name in a cluster: ``node_id``, else the host name."""
        return self.node_id or socket.gethostname()

    @property
    def db_path(self) -> Path:
        return self.state_dir / "wad.db"

    @property
    def sessions_dir(self) -> Path:
        return self.state_dir / "sessions"

    @property
    def admin_token_file(self) -> Path:
        return self.state_dir / "admin.token"

    def control_socket_path(self, env: Mapping[str, str] = os.environ) -> Path:
        return control_socket_path(self.control_socket, self.state_dir, env)


def control_socket_path(
    explicit: Path | str | None, state_dir: Path | str | None, env: Mapping[str, str]
) -> Path:
    """Where the control socket is: the daemon binds it there and wadctl looks there,
    by the one rule: ``explicit`` (``--control-socket`` / ``--socket``), else
    ``WAD_CONTROL_SOCKET``, else ``$RUNTIME_DIRECTORY/wad.sock`` (systemd), else
    ``<state_dir>/wad.sock`` with ``state_dir`` (the flag), else ``WAD_STATE_DIR``,
    else the default state folder."""
    if explicit:
        return Path(explicit).expanduser()
    if env.get("WAD_CONTROL_SOCKET"):
        return Path(env["WAD_CONTROL_SOCKET"]).expanduser()
    if env.get("RUNTIME_DIRECTORY"):
        return Path(env["RUNTIME_DIRECTORY"].split(":")[0]) / "wad.sock"
    if state_dir:
        return Path(state_dir).expanduser() / "wad.sock"
    if env.get("WAD_STATE_DIR"):
        return Path(env["WAD_STATE_DIR"]).expanduser() / "wad.sock"
    return default_state_dir(env) / "wad.sock"


_FIELDS = {f.name: f for f in dataclasses.fields(Config)}


def _coerce(name: str, value: Any) -> Any:
    kind = _FIELDS[name].type
    try:
        if kind in ("float",):
            return float(value)
        if kind in ("int",):
            return int(value)
        if kind in ("Path", "Path | None"):
            return Path(value).expanduser()
        if kind == "list[str]":
            if isinstance(value, str):
                return [v.strip() for v in value.split(",") if v.strip()]
            return [str(v) for v in value]
        if kind == "dict[str, Any]":
            if not isinstance(value, dict):
                raise TypeError
            return value
        return str(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}: cannot use {value!r}") from None


def load(
    flags: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    config_file: Path | None = None,
) -> Config:
    """Build the configuration from every source; raise ConfigError on bad values."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {"state_dir": default_state_dir(env)}
    if env.get("PORT"):  # the seed's variable: only the port
        values["http"] = f"127.0.0.1:{env['PORT']}"
    if config_file is not None:
        try:
            data = tomllib.loads(Path(config_file).read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"config file {config_file}: {exc}") from None
        if "plugins" in data:
            values["plugin_settings"] = data.pop("plugins")
        for name, value in data.items():
            if name not in _FIELDS:
                raise ConfigError(f"config file {config_file}: unknown setting {name!r}")
            values[name] = _coerce(name, value)
    for name in _FIELDS:
        key = "WAD_" + name.upper()
        if env.get(key):
            values[name] = _coerce(name, env[key])
    for name, value in (flags or {}).items():
        if value is not None:
            values[name] = _coerce(name, value)
    config = Config(**values)
    _check(config)
    return config


def plugin_setting(
    config: Config,
    plugin: str,
    name: str,
    variable: str,
    default: Any,
    cast: Any = str,
    env: Mapping[str, str] | None = None,
) -> Any:
    """A plugin's setting: the environment ``variable``, else ``[plugins.<plugin>] <name>``
    in the TOML file, else the default. Environment over file, as for the core."""
    env = os.environ if env is None else env
    raw = env.get(variable)
    if raw is None:
        raw = config.plugin_settings.get(plugin, {}).get(name)
    if raw is None:
        return default
    try:
        return cast(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"{plugin}.{name} ({variable}): cannot use {raw!r}") from None


def _check(config: Config) -> None:
    if config.admin_token is not None and len(config.admin_token) < ADMIN_TOKEN_MIN:
        raise ConfigError(
            f"admin_token (WAD_ADMIN_TOKEN): must be at least {ADMIN_TOKEN_MIN} characters,"
            f" not {len(config.admin_token)} (e.g. the output of: openssl rand -hex 32)"
        )
    if config.engine not in ENGINES:
        raise ConfigError(f"engine: must be one of {', '.join(ENGINES)}, not {config.engine!r}")
    host, sep, port = config.http.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ConfigError(f"http: expected HOST:PORT, not {config.http!r}")
    for name in (
        "pairing_timeout",
        "backoff_initial",
        "backoff_cap",
        "worker_grace",
        "qr_interval",
        "media_fetch_timeout",
        "keep_alive_timeout",
        "shutdown_timeout",
        "max_connections",
        "max_large_bodies",
        "max_json_media",
        "liveness_interval",
        "liveness_timeout",
        "degraded_reconnect_after",
    ):
        if getattr(config, name) <= 0:
            raise ConfigError(f"{name}: must be positive")
    if config.sessions_per_worker < 1:
        raise ConfigError("sessions_per_worker: must be at least 1")
    for name in ("max_sessions", "retention_days", "quarantine_after", "new_contact_daily_cap"):
        if getattr(config, name) < 0:
            raise ConfigError(f"{name}: must not be negative (0 turns it off)")
    if config.backoff_cap < config.backoff_initial:
        raise ConfigError("backoff_cap: must not be below backoff_initial")
    for name in ("metrics_allow", "trusted_proxies"):
        for cidr in getattr(config, name):
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise ConfigError(f"{name}: {cidr!r} is not an address or network") from None
    for cidr in config.media_allow_networks:
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            raise ConfigError(
                f"media_allow_networks: {cidr!r} is not a network such as 127.0.0.0/8"
            ) from None
    if config.database_url is not None and not config.database_url.startswith(
        ("postgresql://", "postgres://")
    ):
        raise ConfigError("database_url: must be a postgresql:// URL (unset: the embedded SQLite)")
    if config.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError(
            f"log_level: must be DEBUG, INFO, WARNING or ERROR, not {config.log_level!r}"
        )
    config.log_level = config.log_level.upper()
