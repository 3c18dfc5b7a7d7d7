"""Cron patterns for ``LightningFlow.schedule``: the next moment a pattern names.

Five fields (minute hour day-of-month month day-of-week) or six (then seconds last, as
croniter reads them), each ``*``, ``*/n``, ``a``, ``a-b``, ``a-b/n`` or a comma list of
these; aliases ``@hourly``, ``@daily`` (``@midnight``), ``@weekly``, ``@monthly``,
``@yearly`` (``@annually``). Day of week 0 or 7 is Sunday.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from payloadkit.errors import ConfigurationError

__all__ = ["ALIASES", "next_time"]

ALIASES = {
    "midnight": "0 0 * * *",
    "hourly": "0 * * * *",
    "daily": "0 0 * * *",
    "weekly": "0 0 * * 0",
    "monthly": "0 0 1 * *",
    "yearly": "0 0 1 1 *",
    "annually": "0 0 1 1 *",
}
_RANGES = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7), (0, 59)]


def next_time(pattern: str, after: datetime) -> datetime:
    """The first moment after ``after`` that ``pattern`` names (to the second)."""
    fields = _parse(pattern)
    minute, hour, day, month, weekday, second = fields
    moment = after.replace(microsecond=0) + timedelta(seconds=1)
    for _ in range(366 * 24 * 60 * 2):
        if moment.month not in month or not _day_matches(moment, day, weekday):
            moment = (moment + timedelta(days=1)).replace(hour=0, minute=0, second=0)
        elif moment.hour not in hour:
            moment = (moment + timedelta(hours=1)).replace(minute=0, second=0)
        elif moment.minute not in minute:
            moment = (moment + timedelta(minutes=1)).replace(second=0)
        elif moment.second not in second:
            moment += timedelta(seconds=1)
        else:
            return moment
    raise ConfigurationError(f"The cron pattern {pattern!r} names no moment within a year.")


def _day_matches(moment: datetime, day: set[int], weekday: set[int]) -> bool:
    sunday_first = (moment.weekday() + 1) % 7
    return moment.day in day and (sunday_first in weekday or (sunday_first == 0 and 7 in weekday))


def _parse(pattern: str) -> list[set[int]]:
    text = ALIASES.get(pattern.lstrip("@"), pattern) if pattern.startswith("@") else pattern
    text = ALIASES.get(text, text)
    parts = text.split()
    if len(parts) not in (5, 6):
        raise ConfigurationError(
            f"{pattern!r} is not a cron pattern: give 5 fields (minute hour day month weekday), "
            "6 with seconds last, or an alias such as 'hourly'."
        )
    if len(parts) == 5:
        parts.append("0")
    return [
        _field(part, low, high, pattern) for part, (low, high) in zip(parts, _RANGES, strict=True)
    ]


def _field(text: str, low: int, high: int, pattern: str) -> set[int]:
    values: set[int] = set()
    for item in text.split(","):
        span, _, step_text = item.partition("/")
        try:
            step = int(step_text) if step_text else 1
            if span == "*":
                start, end = low, high
            elif "-" in span:
                start, end = (int(v) for v in span.split("-", 1))
            else:
                start = end = int(span)
        except ValueError:
            raise ConfigurationError(
                f"{item!r} in the cron pattern {pattern!r} is not a number."
            ) from None
        if step < 1 or start < low or end > high or start > end:
            raise ConfigurationError(f"{item!r} in the cron pattern {pattern!r} is out of range.")
        values.update(range(start, end + 1, step))
    return values
