"""The summary of a run: counts per predicted label, per account and per technique.

Computed from the scored records one at a time (:meth:`Summary.add`), so that a report
that lists only some rows still summarizes all of them; a chunk's summary is made where
the chunk is scored (a worker process, a Dask worker) and merged in input order
(:meth:`Summary.merge`), so only counts travel between processes.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Iterable

from .scored import ScoredSegment

LABELS = ("wire", "partisan")
#: Where an account's entry counts each label (see :attr:`Summary.accounts`).
_LABEL_SLOT = {"wire": 2, "partisan": 3}
#: The account of segments whose dump names none.
UNKNOWN_ACCOUNT = "(unknown)"


def account_name(record: ScoredSegment) -> str:
    return record.account or UNKNOWN_ACCOUNT


class Summary:
    """Counts per label, per account (segments, sum of p_wire, labels) and per technique
    (and per technique and account name), over the records added.

    ``accounts=False`` leaves out the counts per account and per technique and account
    (``accounts`` and ``technique_accounts`` stay empty): only the report shows them, and
    they grow with the number of accounts in the dump."""

    def __init__(self, accounts: bool = True) -> None:
        self.per_account = accounts
        self.total = 0
        self.per_label: dict[str, int] = defaultdict(int)
        #: (account name, handle) -> [segments, sum of p_wire, wire, partisan], in order of
        #: first appearance (a short list, not a Counter of labels: a dump may hold hundreds
        #: of thousands of accounts)
        self.accounts: dict[tuple[str, str], list] = {}
        self.techniques: Counter = Counter()
        self.technique_accounts: dict[str, Counter] = defaultdict(Counter)

    def add(self, record: ScoredSegment) -> None:
        self.total += 1
        self.per_label[record.label] += 1
        for technique, count in record.techniques:
            self.techniques[technique] += count
        if not self.per_account:
            return
        name = account_name(record)
        key = (name, record.handle or "")
        entry = self.accounts.get(key)
        if entry is None:
            entry = self.accounts[key] = [0, 0.0, 0, 0]
        entry[0] += 1
        entry[1] += record.p_wire
        entry[_LABEL_SLOT[record.label]] += 1
        for technique, count in record.techniques:
            self.technique_accounts[technique][name] += count

    def update(self, records: Iterable[ScoredSegment]) -> "Summary":
        for record in records:
            self.add(record)
        return self

    def merge(self, other: "Summary") -> None:
        """Add the counts of ``other`` (the summary of the records that come after these)."""
        self.total += other.total
        for label, count in other.per_label.items():
            self.per_label[label] += count
        for key, (count, total, wire, partisan) in other.accounts.items():
            entry = self.accounts.get(key)
            if entry is None:
                entry = self.accounts[key] = [0, 0.0, 0, 0]
            entry[0] += count
            entry[1] += total
            entry[2] += wire
            entry[3] += partisan
        self.techniques.update(other.techniques)
        for technique, accounts in other.technique_accounts.items():
            self.technique_accounts[technique].update(accounts)

    def label_counts(self) -> dict[str, int]:
        return {label: self.per_label.get(label, 0) for label in LABELS}

    def result(self) -> dict:
        """The summary as the report shows it: totals, labels, accounts (most segments
        first) and techniques (most frequent first), each technique with its accounts."""
        accounts = [
            {"account": name, "handle": handle, "count": count, "mean_p_wire": total / count,
             "wire": wire, "partisan": partisan}
            for (name, handle), (count, total, wire, partisan) in self.accounts.items()
        ]
        accounts.sort(key=lambda a: (-a["count"], a["account"]))
        techniques = [
            {"technique": t, "count": c, "accounts": self.technique_accounts[t]}
            for t, c in sorted(self.techniques.items(), key=lambda item: (-item[1], item[0]))
        ]
        return {
            "total": self.total,
            "labels": [{"label": label, "count": count} for label, count in self.label_counts().items()],
            "accounts": accounts,
            "techniques": techniques,
        }


def summarize(records: Iterable[ScoredSegment]) -> dict:
    """:meth:`Summary.result` over ``records``."""
    return Summary().update(records).result()
