"""``wad serve``: one root nursery that starts everything in order and stops it cleanly.

Start order (each ``nursery.start`` returns only once that part is ready):
store, supervisor (restores sessions), control socket, HTTP server, then
``READY=1`` to systemd (:mod:`wad.systemd`). SIGTERM or SIGINT:
the HTTP server stops accepting and lets open requests finish (until
``shutdown_timeout``; those still running then are answered 503:
:mod:`wad.http.server`), then sessions stop their engines, then the store closes.

With ``database_url`` the daemon is a node of a cluster (issue 20): the store is
PostgreSQL's, and a :class:`wad.cluster.ClusterNode` starts after the supervisor
(which then restores nothing itself: the node starts the sessions it owns). A
planned stop leaves the cluster: the node stops its sessions and frees them in the
database, so the other nodes take them over at their next pass (about 1 s).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import signal
from collections.abc import Callable

import trio
from hypercorn.config import Config as HypercornConfig

from wad import files
from wad.auth.admin_token import AdminToken
from wad.auth.logins import DashboardLogins
from wad.config import Config, ConfigError
from wad.control.server import serve_control
from wad.engines.link import Engine
from wad.errors import StorageFull
from wad.hooks import calls as hooks
from wad.hooks import host
from wad.http.app import create_app
from wad.http.request import buffered
from wad.http.server import HttpLimits, HttpServer
from wad.lockfile import FolderLock
from wad.runtime import looplag, retention
from wad.runtime.daemon import Daemon
from wad.services import Services
from wad.services.claims import Claims
from wad.sessions.events import EventLog
from wad.sessions.liveness import LivenessTiming
from wad.sessions.session import SessionTiming
from wad.sessions.supervisor import Supervisor
from wad.store import Store
from wad.store.checkpoint import Checkpointer
from wad.systemd.integration import Systemd

log = logging.getLogger(__name__)


def make_engine(config: Config) -> Engine:
    if config.engine == "simulator":
        from wad.engines.simulator.engine import SimulatorEngine

        return SimulatorEngine(qr_interval=config.qr_interval)
    from wad.engines.neonize.engine import NeonizeEngine

    return NeonizeEngine(
        grace=config.worker_grace,
        sessions_per_worker=config.sessions_per_worker,
        quarantine_after=config.quarantine_after,
        database_url=config.database_url,
    )


#: The state folder's lock file: held by the daemon that uses the folder.
STATE_LOCK = "wad.lock"


def build(config: Config, engine: Engine | None = None) -> Daemon:
    files.private_dir(config.state_dir)  # an existing 0755 one is tightened, with a warning
    # Before anything in the folder is read or written: one daemon per state folder
    # (a second one would restore the sessions and report false states). Raises
    # FolderLocked, naming the holder's pid, having changed nothing.
    lock = FolderLock.take(config.state_dir / STATE_LOCK, f"the state folder {config.state_dir}")
    try:
        return _build(config, engine, lock)
    except BaseException:
        lock.release()
        raise


def open_store(config: Config) -> Store:
    """The embedded SQLite store, or with ``database_url`` the PostgreSQL one."""
    if config.database_url is None:
        return Store(config.db_path)
    from wad.store.postgres import PostgresStore  # the postgresql extra

    # A Store by type: it offers what Store offers (run, read, full, close,
    # migrate_plugin, path), which the callers' annotations name.
    return PostgresStore(config.database_url, node=config.node, path=config.db_path)


def _build(config: Config, engine: Engine | None, lock: FolderLock) -> Daemon:
    store = open_store(config)
    admin = AdminToken.load(config.admin_token, config.admin_token_file)
    events = EventLog(store)
    timing = SessionTiming(
        config.pairing_timeout,
        config.backoff_initial,
        config.backoff_cap,
        LivenessTiming(
            config.liveness_interval, config.liveness_timeout, config.degraded_reconnect_after
        ),
    )
    supervisor = Supervisor(
        store,
        engine or make_engine(config),
        events,
        config.sessions_dir,
        timing,
        max_sessions=config.max_sessions,
    )
    # The simulator keeps its network's memory in the store when that is PostgreSQL.
    attach_store = getattr(supervisor.engine, "attach_store", None)
    if attach_store is not None:
        attach_store(store, store.dialect)
    services = Services.build(config, store, supervisor, events, admin)
    plugins = host.load(config.disable_plugins)
    # Rotating the admin token ends every dashboard sign-in. A cluster's nodes sign
    # them with a key of the admin token they share: one sign-in serves every node.
    shared = config.database_url is not None
    logins = DashboardLogins(
        generation=lambda: admin.generation,
        key=(lambda: admin.derive(b"wad dashboard sign-in")) if shared else None,
    )
    if config.database_url is not None:
        from wad.cluster import ClusterNode  # psycopg: the postgresql extra

        supervisor.cluster = ClusterNode(
            config.database_url,
            config.node,
            supervisor,
            node_url=config.node_url or "",
            capacity=config.max_sessions,  # each node's own: placement keeps to it
        )
    daemon = Daemon(config, store, events, supervisor, services, plugins, logins)
    daemon.state_lock = lock
    services.sending.before_send = lambda device_id, message: hooks.before_send(
        daemon, device_id, message
    )
    hooks.connect_events(daemon)
    events.after_commit.append(daemon.metrics.observe_event)
    return daemon


async def serve(
    config: Config,
    engine: Engine | None = None,
    *,
    reread: Callable[[], Config] | None = None,
    task_status: trio.TaskStatus[Daemon] = trio.TASK_STATUS_IGNORED,
) -> None:
    sd = Systemd.from_environ()  # first: no worker may inherit systemd's variables
    daemon = build(config, engine)
    daemon.reread = reread
    daemon.systemd = sd
    try:
        # Idempotency-Keys a killed daemon left open are settled before anything is sent
        # (the lock proves that daemon is gone); on a full disk, each is at its next retry.
        # In a cluster the other nodes are sending: a session's are settled when this
        # node takes the session over (the cluster has stopped its previous owner).
        claims = daemon.services.sending.claims
        if daemon.supervisor.cluster is not None:  # one secrets.key for every node
            from wad.cluster import secrets_key

            await secrets_key.check(daemon.store, config.db_path.parent)
        if daemon.supervisor.cluster is None:
            with contextlib.suppress(StorageFull):
                await claims.settle_interrupted()
        else:
            daemon.supervisor.before_start = functools.partial(_settle_claims, claims)
        async with trio.open_nursery() as nursery:
            daemon.nursery = nursery
            nursery.start_soon(_signals, daemon)
            nursery.start_soon(sd.watchdog, daemon)
            await nursery.start(looplag.monitor, daemon.metrics.observe_lag)
            if daemon.store.dialect == "sqlite":  # its fsyncs off the event loop
                store = daemon.store
                await nursery.start(Checkpointer(store.connection.db, store.path).run)
            if daemon.supervisor.cluster is not None:
                # Live streams carry every node's events (LISTEN/NOTIFY), and the
                # store's caches are kept from when it listens.
                from wad.store.postgres import PostgresStore

                assert isinstance(daemon.store, PostgresStore)
                # And a dashboard sign-out on any node ends that sign-in on this one.
                daemon.logins.publish = daemon.store.end_login
                listen = functools.partial(
                    daemon.store.listen, signed_out=daemon.logins.ended_elsewhere
                )
                await nursery.start(daemon.events.follow, listen)
            await hooks.startup(daemon)
            await nursery.start(daemon.supervisor.run)
            if daemon.supervisor.cluster is not None:
                # Registered and beating when this returns; it then starts the
                # sessions it is given. Cancelled at the stop, it leaves the cluster.
                await nursery.start(daemon.supervisor.cluster.run)
            nursery.start_soon(
                retention.prune_forever,
                daemon.store,
                config.retention_days,
                daemon.supervisor.faults,
            )
            await nursery.start(functools.partial(serve_control, daemon, sock=sd.control_socket))
            http_done = trio.Event()
            binds = await nursery.start(_serve_http, daemon, sd.http_bind(config.http), http_done)
            daemon.services.status.http_bound = binds
            token = daemon.services.status.admin.file
            log.info(
                "wad ready: engine %s, HTTP on %s, state in %s; dashboard %s/ (admin token %s);"
                " wadctl status (control socket %s)",
                config.engine,
                ", ".join(binds),
                config.state_dir,
                binds[0].rstrip("/") if binds else config.http,
                f"in {token}" if token else "from WAD_ADMIN_TOKEN",
                daemon.services.status.control_bound or config.control_socket_path(),
            )
            await nursery.start(sd.run, daemon)  # READY=1: everything above is up
            task_status.started(daemon)
            await daemon.stopping.wait()
            log.info("stopping")
            sd.stopping()
            await http_done.wait()  # open requests finished, or were answered 503
            await hooks.shutdown(daemon)
            nursery.cancel_scope.cancel()
    finally:
        daemon.store.close()
        if daemon.state_lock is not None:
            daemon.state_lock.release()
        log.info("stopped")


async def _settle_claims(claims: Claims, device_id: str) -> None:
    with contextlib.suppress(StorageFull):
        await claims.settle_interrupted(device_id)


async def _serve_http(
    daemon: Daemon, bind: str, done: trio.Event, *, task_status: trio.TaskStatus[list[str]]
) -> None:
    """Serve HTTP until the daemon stops; ``done`` is set once its last request ended."""
    config = daemon.config
    hc = HypercornConfig()
    hc.bind = [bind]
    hc.accesslog = None
    hc.errorlog = logging.getLogger("hypercorn.error")
    hc.include_server_header = False
    server = HttpServer(
        create_app(daemon),  # type: ignore[arg-type]  # Quart's ASGI signature is narrower
        hc,
        HttpLimits.from_config(config),
        buffered=functools.partial(buffered, config),
    )
    daemon.http = server
    try:
        await server.serve(daemon.stopping.wait, task_status=task_status)
    finally:
        done.set()


async def _signals(daemon: Daemon) -> None:
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as signals:
        async for signum in signals:
            log.info("received %s", signal.Signals(signum).name)
            if signum == signal.SIGHUP:
                try:
                    await daemon.reload()
                except ConfigError as exc:
                    log.error("reload refused, the running configuration stays: %s", exc)
            else:
                daemon.stop()
