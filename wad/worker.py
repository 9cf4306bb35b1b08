"""The neonize worker: one WhatsApp session in a process of its own.

``python -m wad.worker --device-id ID --db PATH --fd N [--log-level LEVEL]``

neonize keeps its clients in unlocked Go maps and a Go panic takes the whole process
down, so the daemon runs each session here, apart. The worker talks to the daemon
only over the inherited socket ``N``, in JSON lines (:mod:`wad.wire`); stdout is left
to neonize and Go, which print there. Its own logs go to stderr, one record a line
(``LEVEL logger: message``), for the daemon to re-log.

Worker -> daemon: ``{"event": kind, "data": {...}}`` (:meth:`EngineEvent.to_wire`)
and replies ``{"reply": n, "result": {...}}`` or
``{"reply": n, "error": {"code": ..., "message": ...}}``.
Daemon -> worker: ``{"id": n, "command": name, "params": {...}}``; ``stop`` ends the
worker, and so does the end of the socket (the daemon is gone).

Exit status: 0 after ``stop`` or the daemon going away, 1 when neonize failed (the
reason was sent as an ``error`` event first).
"""

from __future__ import annotations

import argparse
import ctypes
import functools
import logging
import math
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from typing import Any

import trio
from neonize.client import NewClient, ProxySettings
from neonize.exc import NeonizeError
from neonize.proto import Neonize_pb2 as pb
from neonize.utils.jid import build_jid

from .engine import EngineError, EngineEvent
from .wire import LineDecoder, WireError, encode

log = logging.getLogger(__name__)

#: The proxy URL (``http://...`` or ``socks5://...``) for WhatsApp's servers. Passed in
#: the environment, not the command line, which any local user can read.
PROXY_ENV = "WAD_WORKER_PROXY"
#: How long a worker whose daemon has gone tries to disconnect politely: neonize's
#: ``stop()`` can block for a minute while a dial is in progress.
ORPHAN_STOP_TIMEOUT = 2.0

_RECEIPTS = {pb.Receipt.DELIVERED: "delivered", pb.Receipt.READ: "read",
             pb.Receipt.PLAYED: "played"}
# Message content fields, the engine's type for each, and where its text is.
_CONTENT = (
    ("conversation", "text", None),
    ("extendedTextMessage", "text", "text"),
    ("imageMessage", "image", "caption"),
    ("videoMessage", "video", "caption"),
    ("audioMessage", "audio", None),
    ("documentMessage", "document", "caption"),
    ("stickerMessage", "sticker", None),
    ("locationMessage", "location", "name"),
    ("contactMessage", "contact", "displayName"),
    ("reactionMessage", "reaction", "text"),
    ("pollCreationMessage", "poll", "name"),
)


def jid_str(jid: pb.JID) -> str:
    """A JID without its device part (``user@server``), as the daemon addresses peers."""
    return f"{jid.User}@{jid.Server}" if jid.User else jid.Server


def _peer(jid: pb.JID, alt: pb.JID) -> str:
    # WhatsApp may address a person by a privacy id (@lid) and give the phone-number
    # JID alongside: the daemon and its users know people by phone number.
    return jid_str(alt if jid.Server == "lid" and alt.User else jid)


def parse_jid(value: object) -> pb.JID:
    """``user@server`` (or a bare phone number) as neonize's JID."""
    if not isinstance(value, str):
        raise EngineError("'to' must be a JID string", "bad_request")
    user, _, server = value.partition("@")
    if not user or (_ and not server):
        raise EngineError(f"not a JID: {value!r}", "bad_request")
    return build_jid(user, server or "s.whatsapp.net")


def _unix_seconds(timestamp: int) -> int:
    # neonize 0.5 sends MessageInfo.Timestamp in milliseconds (Go's UnixMilli), older
    # releases in seconds; no message is from beyond the year 5000, so both read right.
    return timestamp // 1000 if timestamp > 100_000_000_000 else timestamp


def message_data(message: pb.Message) -> dict[str, Any] | None:
    """A ``message`` event's data, or None for content that is no message to a user
    (protocol, key distribution and other housekeeping messages)."""
    found = next((entry for entry in _CONTENT if message.Message.HasField(entry[0])), None)
    if found is None:
        return None
    field, type_, text_field = found
    info, source = message.Info, message.Info.MessageSource
    content = getattr(message.Message, field)
    if field == "conversation":
        text = content
    else:
        text = getattr(content, text_field) if text_field else ""
    data: dict[str, Any] = {
        "id": info.ID,
        "chat": _peer(source.Chat, source.RecipientAlt if source.IsFromMe else source.SenderAlt),
        "from": _peer(source.Sender, source.SenderAlt),
        "fromMe": source.IsFromMe,
        "type": type_,
        "timestamp": _unix_seconds(info.Timestamp),
        "pushName": info.Pushname,
    }
    if text:
        data["caption" if text_field == "caption" else "text"] = text
    if type_ == "reaction":
        data["reactedTo"] = content.key.ID
    elif type_ == "location":
        data["latitude"], data["longitude"] = content.degreesLatitude, content.degreesLongitude
    return data


class Bridge:
    """Registers handlers on a neonize client and turns what they get into EngineEvents.

    Handlers run on neonize's threads, and ctypes swallows what they raise: each one is
    wrapped so a failure is logged and becomes an ``error`` event instead of vanishing.
    ``connected`` and ``waiting_qr`` follow the events, for the commands to check.
    """

    def __init__(self, client: NewClient, emit: Callable[[EngineEvent], None]) -> None:
        self.client = client
        self._emit = emit
        self.connected = False
        self.waiting_qr = False
        # Replaces neonize's default, which draws the QR code on stdout.
        client.event.qr(self._guard(self._qr))
        translators: dict[type[Any], Callable[[Any], EngineEvent | None]] = {
            pb.Connected: self._connected,
            pb.Message: self._message,
            pb.Receipt: self._receipt,
            pb.LoggedOut: self._logged_out,
            pb.Disconnected: self._disconnected,
            pb.PairStatus: self._pair_status,
            pb.ConnectFailure: self._connect_failure,
            pb.StreamError: self._stream_error,
            pb.StreamReplaced: self._stream_replaced,
            pb.TemporaryBan: self._temporary_ban,
            pb.ClientOutdated: self._client_outdated,
        }
        for event_type, translate in translators.items():
            # neonize subscribes, in Go, to exactly the types registered before connect().
            client.event(event_type)(self._guard(translate))

    def emit(self, event: EngineEvent) -> None:
        try:
            self._emit(event)
        except Exception:  # the worker is shutting down: nobody is left to tell
            log.warning("dropped a %s event: the worker is stopping", event.kind)

    def _guard(self, translate: Callable[[Any], EngineEvent | None]) -> Callable[[Any, Any], None]:
        def handler(_client: NewClient, payload: Any) -> None:
            try:
                event = translate(payload)
            except Exception as exc:
                log.exception("could not handle neonize's %s", type(payload).__name__)
                event = EngineEvent("error", {
                    "message": f"could not handle neonize's {type(payload).__name__}: {exc}"})
            if event is not None:
                self.emit(event)

        return handler

    def _qr(self, code: bytes) -> EngineEvent:
        self.waiting_qr = True
        return EngineEvent("qr", {"code": code.decode()})

    def _connected(self, _: pb.Connected) -> EngineEvent:
        # neonize delivers the Device event (stored as client.me) before any other one;
        # get_me() is the fallback, safe now: it panics only before connecting.
        me = self.client.me or self.client.get_me()
        self.connected, self.waiting_qr = True, False
        return EngineEvent("connected", {"phoneNumber": me.JID.User, "jid": jid_str(me.JID)})

    def _message(self, message: pb.Message) -> EngineEvent | None:
        data = message_data(message)
        if data is None:
            log.debug("skipped message %s: no user content", message.Info.ID)
            return None
        return EngineEvent("message", data)

    def _receipt(self, receipt: pb.Receipt) -> EngineEvent | None:
        status = _RECEIPTS.get(receipt.Type)
        if status is None:  # our other devices' reads, retries, ...: not a delivery state
            return None
        return EngineEvent("receipt", {"ids": list(receipt.MessageIDs),
                                       "chat": jid_str(receipt.MessageSource.Chat),
                                       "status": status})

    def _logged_out(self, event: pb.LoggedOut) -> EngineEvent:
        self.connected = False
        reason = pb.ConnectFailureReason.Name(event.Reason)
        when = " while connecting" if event.OnConnect else ""
        return EngineEvent("logged_out",
                           {"reason": f"WhatsApp unlinked the device{when} ({reason})"})

    def _disconnected(self, _: pb.Disconnected) -> EngineEvent:
        self.connected = False
        return EngineEvent("disconnected", {"reason": "the connection to WhatsApp was lost"})

    def _pair_status(self, event: pb.PairStatus) -> EngineEvent | None:
        if event.Status == pb.PairStatus.SUCCESS:
            log.info("paired as %s", jid_str(event.ID))
            return None
        return EngineEvent("error", {"message": f"pairing failed: {event.Error}"})

    def _connect_failure(self, event: pb.ConnectFailure) -> EngineEvent:
        reason = pb.ConnectFailureReason.Name(event.Reason)
        return EngineEvent("error", {
            "message": f"WhatsApp refused the connection ({reason}): {event.Message}"})

    def _stream_error(self, event: pb.StreamError) -> EngineEvent:
        self.connected = False
        return EngineEvent("disconnected", {"reason": f"stream error {event.Code}"})

    def _stream_replaced(self, _: pb.StreamReplaced) -> EngineEvent:
        return EngineEvent("error", {
            "message": "another client connected with this device's credentials"})

    def _temporary_ban(self, event: pb.TemporaryBan) -> EngineEvent:
        code = pb.TemporaryBan.TempBanReason.Name(event.Code)
        return EngineEvent("error", {
            "message": f"temporarily banned by WhatsApp ({code}), {event.Expire} s left"})

    def _client_outdated(self, _: pb.ClientOutdated) -> EngineEvent:
        return EngineEvent("error", {
            "message": "WhatsApp rejected this client version as outdated: upgrade neonize"})


class Worker:
    """One session's neonize client, driven by the daemon's commands over ``stream``.

    neonize calls run in threads, one at a time (a ``CapacityLimiter(1)``): its Go maps
    are not safe for concurrent use.
    """

    def __init__(self, client: NewClient, stream: trio.abc.Stream,
                 proxy: str | None = None) -> None:
        self.client = client
        self.stream = stream
        self.proxy = proxy
        self._limiter = trio.CapacityLimiter(1)
        self._write_lock = trio.Lock()
        self._event_send, self._event_receive = trio.open_memory_channel[EngineEvent](math.inf)
        self._token = trio.lowlevel.current_trio_token()
        self._status: int | None = None
        self.bridge = Bridge(client, self._emit_from_thread)

    def _emit_from_thread(self, event: EngineEvent) -> None:
        trio.from_thread.run_sync(self._event_send.send_nowait, event, trio_token=self._token)

    def _finish(self, status: int) -> None:
        """End the worker; events already queued still go out."""
        if self._status is None:
            self._status = status
            self._event_send.close()

    async def run(self) -> int:
        """Connect and serve until stopped; return the exit status."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._connect)
            nursery.start_soon(self._serve_commands, nursery)
            await self._forward_events()
            nursery.cancel_scope.cancel()
        assert self._status is not None
        return self._status

    async def _connect(self) -> None:
        settings = ProxySettings(proxy_address=self.proxy) if self.proxy else None
        try:
            # connect() blocks until stop(); offline it raises within milliseconds.
            await trio.to_thread.run_sync(self.client.connect, settings, abandon_on_cancel=True)
        except NeonizeError as exc:
            self._send_event(EngineEvent("error", {"message": str(exc)}))
            self._finish(1)
        else:
            self._send_event(EngineEvent("disconnected", {"reason": "the neonize client stopped"}))
            self._finish(0)

    def _send_event(self, event: EngineEvent) -> None:
        if self._status is None:
            self._event_send.send_nowait(event)

    async def _forward_events(self) -> None:
        """Send events until :meth:`_finish`, then those still queued."""
        try:
            async for event in self._event_receive:
                await self._write(event.to_wire())
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self._finish(0)  # the daemon is gone: nobody is left to tell

    async def _write(self, obj: dict[str, Any]) -> None:
        async with self._write_lock:
            await self.stream.send_all(encode(obj))

    async def _serve_commands(self, nursery: trio.Nursery) -> None:
        decoder = LineDecoder()
        try:
            while chunk := await self.stream.receive_some():
                for request in decoder.feed(chunk):
                    nursery.start_soon(self._answer, request)
            log.info("the daemon closed the socket: stopping")
        except WireError as exc:
            log.error("the daemon sent a bad line, stopping: %s", exc)
        except trio.BrokenResourceError:
            log.info("the daemon is gone: stopping")
        with trio.move_on_after(ORPHAN_STOP_TIMEOUT):
            await self._stop_client()
        self._finish(0)

    async def _answer(self, request: dict[str, Any]) -> None:
        number = request.get("id")
        command, params = request.get("command"), request.get("params", {})
        try:
            if not isinstance(command, str) or not isinstance(params, dict):
                raise EngineError("a request needs a command and params", "bad_request")
            reply: dict[str, Any] = {"reply": number, "result": await self.handle(command, params)}
        except EngineError as exc:
            reply = {"reply": number, "error": {"code": exc.code, "message": str(exc)}}
        except Exception as exc:  # a bug here must not take the session down
            log.exception("command %s failed", command)
            reply = {"reply": number, "error": {"code": "failed", "message": str(exc)}}
        try:
            await self._write(reply)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return
        if command == "stop":
            self._finish(0)

    async def handle(self, command: str, params: dict[str, Any]) -> dict[str, Any]:
        """Run one command; raise :class:`EngineError` when it cannot be done."""
        if command == "stop":
            await self._stop_client()
            return {}
        if command == "pair_phone":
            if self.bridge.connected or not self.bridge.waiting_qr:
                raise EngineError("pairing needs a session waiting for a QR scan", "conflict")
            return await self._in_thread(self._pair_phone, _digits(params.get("phoneNumber")))
        call = self._prepare(command, params)
        if not self.bridge.connected:
            raise EngineError("Session not connected", "not_connected")
        return await self._in_thread(call)

    def _prepare(self, command: str, params: dict[str, Any]) -> Callable[[], dict[str, Any]]:
        """The neonize call for a command that needs a connection, its params checked."""
        if command == "send" and params.get("type", "text") != "text":
            raise EngineError("the neonize engine sends text messages only", "unsupported")
        if command in ("send", "send_text"):
            text = params.get("text")
            if not isinstance(text, str) or not text:
                raise EngineError("'text' must be a non-empty string", "bad_request")
            return functools.partial(self._send_text, parse_jid(params.get("to")), text)
        if command == "check_numbers":
            numbers = params.get("numbers")
            if not isinstance(numbers, list) or not numbers:
                raise EngineError("'numbers' must be a non-empty list", "bad_request")
            return functools.partial(self._check_numbers, [_digits(n) for n in numbers])
        if command == "logout":
            return self._logout
        raise EngineError(f"unknown command {command!r}", "unsupported")

    async def _in_thread(self, fn: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
        try:
            return await trio.to_thread.run_sync(fn, *args, limiter=self._limiter,
                                                 abandon_on_cancel=True)
        except NeonizeError as exc:
            raise EngineError(str(exc) or type(exc).__name__, "failed") from None

    async def _stop_client(self) -> None:
        # stop() blocks for up to a minute while a dial is in progress; the daemon
        # kills a worker that does not stop within its grace period.
        await trio.to_thread.run_sync(self.client.stop, limiter=self._limiter,
                                      abandon_on_cancel=True)

    # -- neonize calls, in a thread ----------------------------------------------------------

    def _send_text(self, to: pb.JID, text: str) -> dict[str, Any]:
        # neonize's send_message takes no message id (whatsmeow's SendRequestExtra.ID is
        # not passed through): WhatsApp's id is generated here and returned, and the
        # daemon's own id for the message is not sent.
        response = self.client.send_message(to, text)
        return {"id": response.ID, "timestamp": response.Timestamp or int(time.time())}

    def _pair_phone(self, phone: str) -> dict[str, Any]:
        return {"code": self.client.PairPhone(phone, show_push_notification=True)}

    def _check_numbers(self, numbers: list[str]) -> dict[str, Any]:
        # whatsmeow wants international numbers with their "+"; Query echoes them.
        found = {r.Query.lstrip("+"): r for r in self.client.is_on_whatsapp(
            *(f"+{n}" for n in numbers))}
        results = []
        for number in numbers:
            response = found.get(number)
            exists = bool(response and response.IsIn)
            results.append({"number": number, "exists": exists,
                            "jid": jid_str(response.JID) if response and exists else None})
        return {"results": results}

    def _logout(self) -> dict[str, Any]:
        self.client.logout()
        # whatsmeow reports no LoggedOut event for a logout it was asked to do.
        self.bridge.connected = False
        self.bridge.emit(EngineEvent("logged_out", {"reason": "logged out by the daemon"}))
        return {}


def _digits(value: object) -> str:
    number = str(value or "").lstrip("+")
    if not number.isdigit():
        raise EngineError(f"not a phone number: {value!r}", "bad_request")
    return number


# -- the process -------------------------------------------------------------------------


def _die_with_parent() -> None:
    """Ask Linux for SIGTERM when the daemon dies (the socket's end covers the rest)."""
    if sys.platform == "linux":
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)


def _setup_logging(level: str) -> None:
    # Importing neonize ran logging.basicConfig(): replace its handler with plain lines
    # the daemon can re-log (it adds the time and the device id).
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # neonize passes this logger's level to Go as whatsmeow's log level.
    logging.getLogger("neonize.utils.log").setLevel(level.upper())
    # connect() warns on every start that ffmpeg is missing; only media needs it.
    logging.getLogger("neonize.utils.ffmpeg").setLevel(logging.ERROR)


async def _serve(sock: socket.socket, device_id: str, db: str) -> int:
    stream = trio.SocketStream(trio.socket.from_stdlib_socket(sock))
    # The whatsmeow store is the SQLite file ``name``; uuid keys the client in Go.
    client = NewClient(name=db, uuid=device_id)
    return await Worker(client, stream, os.environ.get(PROXY_ENV) or None).run()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m wad.worker",
                                     description="Run one neonize session for the wad daemon.")
    parser.add_argument("--device-id", required=True)
    parser.add_argument("--db", required=True, help="the session's whatsmeow SQLite file")
    parser.add_argument("--fd", type=int, required=True, help="the socket to the daemon")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    _setup_logging(args.log_level)
    _die_with_parent()
    status = 1
    try:
        status = trio.run(_serve, socket.socket(fileno=args.fd), args.device_id, args.db)
    except BaseException:
        log.exception("the worker crashed")
    finally:
        logging.shutdown()
        sys.stdout.flush()
        # Not sys.exit(): neonize's connect thread is not a daemon thread and may still
        # be blocked in Go, and a normal exit would wait for it forever.
        os._exit(status)


if __name__ == "__main__":
    main()
