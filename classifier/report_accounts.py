"""The report's Accounts view: the account tables as the compact JSON its script draws.

The view lists every account (sortable by posts, partisan share, change, bursts and
technique share; paged and collapsed), and draws an account's charts only when it is
opened: a daily chart of volume and partisan share with its burst days marked, an hour x
weekday heatmap when its posts carry times, and its technique bars.  Python only packs the
numbers (:func:`accounts_payload`); the script (``templates/report_accounts.js``) makes
the SVG with ``createElementNS`` and ``textContent``, so no account name or technique
reaches the page as markup.

Each account is one array (:data:`ACCOUNT_FIELDS`) and its days one flat list of
``day offset, posts, partisan posts, burst`` quadruples, so 5,000 accounts of a month
each stay a few megabytes.
"""

from __future__ import annotations

from collections import Counter
from datetime import date
from itertools import groupby, islice
from operator import itemgetter
from typing import Callable, Iterable, Mapping

from .accounts import AccountTables, account_tables, record_row
from .scored import ScoredSegment
from .technique_counts import parse_technique_counts

#: The fields of an account's array in the view's JSON, in order (the script maps them back).
ACCOUNT_FIELDS = (
    "handle", "name", "posts", "segments", "first", "last", "active_days", "mean_p_wire", "share", "low", "high",
    "marker_share", "trend", "change", "changed", "bursts", "campaigns", "techniques", "days", "heat",
)
#: Technique bars drawn per account (most frequent first).
TECHNIQUE_BARS = 8
#: Accounts the view lists, those with the most posts first: a year-long dump of many
#: accounts holds hundreds of thousands, with millions of account-days, which no one pages
#: through in a browser and which would make the report as large; the CSVs and the
#: database have them all.
REPORT_ACCOUNTS = 5_000


def accounts_payload(tables: AccountTables, limit: int | None = None,
                     encode: Callable[[list], str] | None = None) -> dict:
    """The view's data: the time zone, whether times exist, and one array per account in
    the tables' order (most posts first), for the first ``limit`` accounts (default
    :data:`REPORT_ACCOUNTS`) of ``total``; each array as ``encode`` makes it into text,
    when given (the report's JSON: a few kilobytes of text an account rather than lists
    of numbers several times that size, for as long as the page is being written).

    The day rows come in the accounts' order, an account's together (:class:`DayRows`):
    they are read alongside the accounts, one account's days at a time."""
    day_groups = groupby(tables.days, key=itemgetter("handle"))
    pending = next(day_groups, None)
    entries = []
    for row in islice(tables.accounts, max(REPORT_ACCOUNTS if limit is None else limit, 0)):
        days: list[Mapping] = []
        if pending is not None and pending[0] == row["handle"]:  # an account of undated posts has no days
            days = list(pending[1])
            pending = next(day_groups, None)
        entry = account_entry(row, days)
        entries.append(encode(entry) if encode is not None else entry)
    return {
        "tz": tables.tz,
        "day_only": tables.day_only,
        "fields": list(ACCOUNT_FIELDS),
        "accounts": entries,
        "total": len(tables.accounts),
    }


def account_entry(row: Mapping, days: list[Mapping]) -> list:
    """One account as the array of :data:`ACCOUNT_FIELDS`."""
    techniques: Counter = Counter()
    for day in days:
        techniques.update(parse_technique_counts(day["techniques"]))
    ranked = sorted(techniques.items(), key=lambda item: (-item[1], item[0]))[:TECHNIQUE_BARS]
    return [
        row["handle"], row["display_name"], row["posts"], row["segments"], row["first_date"], row["last_date"],
        row["active_days"], row["mean_p_wire"], row["partisan_share"], row["partisan_low"], row["partisan_high"],
        row["marker_share"], row["trend_per_week"], row["change"], bool(row["changed"]), row["bursts"],
        [c.strip() for c in row["campaigns"].split(";") if c.strip()], [list(item) for item in ranked],
        day_series(days), hour_weekday(days),
    ]


def day_series(days: list[Mapping]) -> list[int]:
    """An account's days as one flat list: for each day, its offset from the account's
    first day, its posts, its partisan posts and 1 when it is a burst day."""
    if not days:
        return []
    first = date.fromisoformat(days[0]["date"]).toordinal()
    flat: list[int] = []
    for day in days:
        posts = day["posts"]
        flat += [date.fromisoformat(day["date"]).toordinal() - first, posts,
                 round((day["partisan_share"] or 0) * posts), int(bool(day["burst"]))]
    return flat


def hour_weekday(days: list[Mapping]) -> list[int]:
    """Posts per weekday and hour (in the dump's time zone) as a flat ``slot, count`` list,
    slot = weekday * 24 + hour (Monday 0); empty when no post had a time."""
    counts: Counter = Counter()
    for day in days:
        if not day["hours"]:
            continue
        weekday = date.fromisoformat(day["date"]).weekday()
        for item in day["hours"].split(";"):
            hour, _, count = item.strip().partition(":")
            counts[weekday * 24 + int(hour)] += int(count)
    return [value for slot in sorted(counts) for value in (slot, counts[slot])]


def tables_of_records(records: Iterable[ScoredSegment], **options) -> AccountTables:
    """The account tables of scored records in memory (a report made without a run)."""
    return account_tables(map(record_row, records), **options)
