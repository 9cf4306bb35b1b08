"""Crash durability, bounded: five kill -9 of a real daemon under send load, half of it
with idempotency keys retried after each kill (the full run of 20+ kills is
``contrib/bench/crash.py``): no accepted send lost, none delivered twice, nothing left
pending, every key cut off resolved on retry, ``PRAGMA integrity_check`` ok after
every kill."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "contrib" / "bench"))
import crash  # noqa: E402


@pytest.mark.slow
async def test_kill_nine_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    # A volume between kills, not a time: on a busy machine the kills come later.
    report = await crash.run(
        kills=5, workdir=tmp_path, senders=6, seed=8, say=lambda _: None, per_kill=(25, 11)
    )
    assert report.kills == 5
    assert len(report.accepted) > 100  # the load really ran across the kills
    assert report.integrity == ["ok"] * 6
    assert report.lost == []
    assert report.duplicated == []
    assert report.not_sent_in_store == []
    assert report.pending_left == 0
    assert report.keyed > 50  # keyed sends were in the load
    assert report.stuck == [] and report.texts_twice == []
    assert report.resolved == report.retried  # every key cut off by a kill resolved
    assert report.ok, report.summary()
