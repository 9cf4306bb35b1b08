"""Counts of received messages at each stage, for ``wad_incoming_total{stage}``:

- ``received``: messages the sessions took from their engines (live ones; history
  batches are counted apart, in their ``history.batch`` events);
- ``stored``: stored as new messages (each one ``message`` event);
- ``duplicate``: already stored under the same WhatsApp id (a resend, a message the
  worker sent again after a restart, a live copy of a history message): not again;
- ``reduced``: stored reduced to what could be kept (see ``wad_faults_total``);
- ``dropped``: could not be stored at all (logged with the message's id);
- ``undecryptable``: WhatsApp delivered a message this device could not decrypt
  (whatsmeow asks the sender's phone to send it again, which then arrives as usual).

``received`` = ``stored`` + ``duplicate`` + ``reduced`` + ``dropped``, always; with
neonize, ``wad_engine{figure="messages_received"}`` counts what the workers received
and sent on, so the two sides can be compared (README, Reliability).
"""

from __future__ import annotations

from collections import Counter

STAGES = ("received", "stored", "duplicate", "reduced", "dropped", "undecryptable")


class Inbound:
    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def add(self, stage: str, count: int = 1) -> None:
        self.counts[stage] += count

    def statistics(self) -> dict[str, int]:
        """Every stage, zero or not, so a scrape shows the series from the start."""
        return {stage: self.counts.get(stage, 0) for stage in STAGES}
