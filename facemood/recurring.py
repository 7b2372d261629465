"""Proactive help: does the student's own journal show distress coming back?

A single sad photo says little; the same reading again over several days may be worth a gentle
word before the next upload. This rule only ever shapes what the student sees on their own page:
it is never a diagnosis and it is never sent to anyone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from facemood import config as cfg
from facemood.clock import DAY_SECONDS
from facemood.journal import JournalEntry


@dataclass(frozen=True)
class RecurringSettings:
    """``recurring_distress`` in config/app.yaml."""

    last: int  # look at this many of the most recent check-ins ...
    min_distress: int  # ... of which at least this many offered help ...
    min_days: int  # ... on at least this many different days ...
    within_days: float  # ... counting only check-ins from this many days back

    def __post_init__(self) -> None:
        cfg.check_range("last", self.last, 1, 100)
        cfg.check_range("min_distress", self.min_distress, 1, self.last)
        cfg.check_range("min_days", self.min_days, 1, self.min_distress)
        cfg.check_range("within_days", self.within_days, 0.0, 366.0, open_low=True)


def recurring_distress(entries: Sequence[JournalEntry], settings: RecurringSettings, now: float,
                       timezone: str = "UTC") -> bool:
    """True when at least ``min_distress`` of the last ``last`` check-ins (from the past
    ``within_days``) offered help, on at least ``min_days`` different days in ``timezone``."""
    recent = sorted((e for e in entries if now - settings.within_days * DAY_SECONDS <= e.time <= now),
                    key=lambda e: e.time)[-settings.last:]
    distress = [e for e in recent if e.flagged]
    zone = ZoneInfo(timezone)
    days = {datetime.fromtimestamp(e.time, zone).date() for e in distress}
    return len(distress) >= settings.min_distress and len(days) >= settings.min_days
