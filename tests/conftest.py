"""Shared fixtures: paths to the seed dump and test data, and a scored seed."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "seeds" / "timeline_nhk_reuters_partisan_2024-11-04.txt"
DATA = Path(__file__).resolve().parent / "data"
LABELS = ROOT / "labels"


@pytest.fixture(scope="session")
def seed_path() -> Path:
    return SEED


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


@pytest.fixture(scope="session")
def seed_records():
    """The seed scored by the shipped model (once per test session): its ScoredSegment records."""
    from classifier import score_file

    records, _ = score_file(SEED)
    return records


def report_payload(soup) -> dict:
    """The data a report page carries, as its script reads it: the ``report-data`` block
    with the rows of every ``report-rows`` block, in order, under ``rows``."""
    import json

    data = json.loads(soup.find("script", id="report-data").string)
    data["rows"] = [row for block in soup.find_all("script", class_="report-rows") for row in json.loads(block.string)]
    return data


@pytest.fixture(scope="session")
def account_dumps(tmp_path_factory) -> dict:
    """Generated dumps with planted account behaviour, scored, with their account tables
    (see ``tests/accounts_dumps.py``)."""
    from .accounts_dumps import score_planned_dumps

    return score_planned_dumps(tmp_path_factory.mktemp("account_dumps"))
