"""Dates of records, normalized to ISO 8601: what every reader of :mod:`classifier.ingest`
and :mod:`classifier.formats` does with the date a dump gives."""

from __future__ import annotations

import re
from datetime import datetime, timezone

_DATE_FORMATS = ("%B %d, %Y", "%b %d, %Y", "%b. %d, %Y", "%Y年%m月%d日", "%Y-%m-%d", "%Y/%m/%d")
_DATETIME_FORMATS = (
    "%a %b %d %H:%M:%S %z %Y",  # Twitter v1.1 and archives: "Mon Nov 04 09:12:00 +0000 2024"
    "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M",
    "%Y-%m-%d %H:%M %z", "%Y-%m-%d %H:%M:%S %z",  # X Analytics: "2024-11-04 09:12 +0000"
    "%Y年%m月%d日 %H:%M:%S", "%Y年%m月%d日 %H:%M", "%Y年%m月%d日 %H時%M分",
    "%B %d, %Y %H:%M", "%b %d, %Y %H:%M",
)


def parse_date(text: str) -> str:
    """Turn ``November 4, 2024`` (and a few other layouts) into ``2024-11-04``; '' if unknown."""
    text = text.strip()
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).date().isoformat()
        except ValueError:
            continue
    return ""


def normalize_date(value: object) -> str:
    """Normalize a record's date to ISO 8601; '' when there is none.

    A value with only a day becomes ``YYYY-MM-DD``; a value with a time keeps it, with its
    UTC offset when the source gives one (``2024-11-04T09:12:00+00:00``).  Unix epoch
    seconds or milliseconds become UTC datetimes.  Raises ``ValueError`` for anything else,
    so that a bad date is reported instead of silently dropped.
    """
    if value is None or value == "":
        return ""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"not a date: {value!r}")
    text = str(value).strip()
    if not text:
        return ""
    if re.fullmatch(r"\d{10}|\d{13}|\d{10}\.\d+", text):
        seconds = float(text) / (1000 if len(text) == 13 else 1)
        try:
            return _iso(datetime.fromtimestamp(seconds, timezone.utc))
        except (OverflowError, OSError, ValueError):
            raise ValueError(f"not a date: {value!r}") from None
    if not _ISO_DAY_RE.fullmatch(text):
        try:  # the common case (X API, snscrape), and fast
            return _iso(datetime.fromisoformat(text))
        except ValueError:
            pass
    # A dump uses one layout throughout: try the one that worked last time first.
    for fmt in sorted(_ALL_FORMATS, key=lambda f: f != _last_format[0]):
        try:
            moment = datetime.strptime(text, fmt)
        except ValueError:
            continue
        _last_format[0] = fmt
        return moment.date().isoformat() if fmt in _DATE_FORMATS else _iso(moment)
    raise ValueError(f"not a date: {value!r}")


_ISO_DAY_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_ALL_FORMATS = _DATE_FORMATS + _DATETIME_FORMATS
_last_format = [_DATE_FORMATS[0]]


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds" if moment.microsecond else "seconds")
