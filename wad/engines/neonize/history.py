"""History sync with neonize, inside a worker process.

What the device asks for is its ``DeviceProps``, which neonize merges into whatsmeow's
(process-wide) ``store.DeviceProps`` before connecting and which WhatsApp reads only
when the device is paired: ``recent`` keeps whatsmeow's defaults (WhatsApp then sends
the recent messages of recent chats), ``full`` sets ``requireFullSync`` and a
``HistorySyncConfig`` without day limits (WhatsApp then sends as much as the phone
holds, in more batches); ``none`` asks for nothing beyond the defaults, and the daemon
keeps nothing of what comes (WhatsApp sends an initial sync whatever one asks).

whatsmeow downloads and decrypts each history blob itself and neonize hands it over
whole (``HistorySyncEv``, type 13). Its conversations' ``WebMessageInfo`` are turned
into the same ``message`` data as live messages (:func:`.bridge.message_data`), and
sent to the daemon as ``history`` events of at most :data:`PART_BYTES` each (a line
to the daemon holds at most 1 MiB). Their media are not downloaded: a history
message's media keys are often expired, and a full sync can name thousands.

On-demand requests for a chat's older messages are not possible with neonize 0.5:
its ``SendMessage`` export never marks a message as a peer message, which
``HistorySyncOnDemandRequest`` must be (neonize's ``build_history_sync_request``
builds one, but it would go out as a plain message to ourselves).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

from neonize.proto import Neonize_pb2 as pb
from neonize.proto.waCompanionReg.WAWebProtobufsCompanionReg_pb2 import DeviceProps
from neonize.proto.waHistorySync.WAWebProtobufsHistorySync_pb2 import HistorySync
from neonize.proto.waWeb.WAWebProtobufsWeb_pb2 import WebMessageInfo

from wad.engines import text
from wad.engines.contract import EngineEvent
from wad.engines.neonize.bridge import Bridge, message_data, parse_jid
from wad.engines.neonize.ids import Resolver

log = logging.getLogger(__name__)

#: The most JSON a history event carries (a line to the daemon holds at most 1 MiB).
PART_BYTES = 512 * 1024
#: ``full``: no day or size limit WhatsApp would apply to a companion (10 years, 10 GiB).
FULL_DAYS = 3650
FULL_MB = 10240


def attach(bridge: Bridge) -> None:
    """Have ``bridge`` turn neonize's HistorySync events into ``history`` events (before
    connect(), as every handler)."""

    def translate(event: pb.HistorySync) -> None:
        for part in history_events(event.Data, bridge.ids, bridge.me):
            bridge.emit(part)

    bridge.handle(pb.HistorySync, translate)


def device_props(history: str) -> DeviceProps:
    """The device properties neonize pairs with (its own defaults, plus ``full``)."""
    props = DeviceProps(os="Neonize", platformType=DeviceProps.SAFARI)
    # Set either way: neonize merges these into one process-wide variable, which a
    # worker's other sessions share (a "full" one must not leave it set for them).
    props.requireFullSync = history == "full"
    if history == "full":
        config = props.historySyncConfig
        config.fullSyncDaysLimit = FULL_DAYS
        config.fullSyncSizeMbLimit = FULL_MB
        config.storageQuotaMb = FULL_MB
    return props


def _message(info: WebMessageInfo, chat_id: str, me: pb.JID | None) -> pb.Message:
    """A history ``WebMessageInfo`` as neonize's live ``Message`` (Info + content)."""
    key = info.key
    chat = parse_jid(key.remoteJID or chat_id, "remoteJID")
    group = chat.Server == "g.us"
    if key.fromMe and me is not None:
        sender = me
    elif group:
        sender = parse_jid(key.participant or info.participant or chat_id, "participant")
    else:
        sender = chat
    source = pb.MessageSource(
        Chat=chat, Sender=sender, IsFromMe=key.fromMe, IsGroup=group, SenderAlt=pb.JID()
    )
    return pb.Message(
        Info=pb.MessageInfo(
            MessageSource=source,
            ID=key.ID,
            Timestamp=info.messageTimestamp * 1000,  # as neonize gives live ones (ms)
            Pushname=info.pushName,
        ),
        Message=info.message,
    )


def history_events(sync: HistorySync, resolver: Resolver, me: pb.JID | None) -> list[EngineEvent]:
    """The ``history`` events of one HistorySync blob: its messages, in parts."""
    sync_type = HistorySync.HistorySyncType.Name(sync.syncType)
    messages: list[dict[str, Any]] = []
    skipped = 0
    for conversation in sync.conversations:
        for item in conversation.messages:
            try:
                live = _message(item.message, text.repaired(conversation.ID), me)
                data = message_data(live)
                if data is None:  # a protocol message, a key distribution, ...
                    skipped += 1
                    continue
                resolver.message_people(live, data)
                data["history"] = True
                messages.append(text.clean(data))
            except Exception as exc:  # one unreadable message costs itself only
                log.warning("skipped a history message: %s", exc)
                skipped += 1
    head = {
        "syncType": sync_type,
        "chunkOrder": sync.chunkOrder,
        "progress": sync.progress,
        "conversations": len(sync.conversations),
        "skipped": skipped,
    }
    parts = list(_parts(messages))
    return [
        EngineEvent("history", {**head, "part": n, "parts": len(parts), "messages": part})
        for n, part in enumerate(parts, start=1)
    ]


def _parts(messages: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """The messages cut into runs of at most PART_BYTES of JSON (at least one part)."""
    part: list[dict[str, Any]] = []
    size = 0
    for data in messages:
        length = len(json.dumps(data, ensure_ascii=False, default=str).encode())
        if part and size + length > PART_BYTES:
            yield part
            part, size = [], 0
        part.append(data)
        size += length
    yield part
