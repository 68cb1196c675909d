"""Shared fixtures: paths to the seed dump and test data, and a scored seed."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "seeds" / "timeline_nhk_reuters_partisan_2024-11-04.txt"
DATA = Path(__file__).resolve().parent / "data"
LABELS = ROOT / "labels"


@pytest.fixture(scope="session", autouse=True)
def machine_trust_record(tmp_path_factory) -> Path:
    """Keep the record of models trained "on this machine" inside the test session: models
    the tests train are trusted there, never in the user's own data folder."""
    home = tmp_path_factory.mktemp("xdg-data")
    previous = os.environ.get("XDG_DATA_HOME")
    os.environ["XDG_DATA_HOME"] = str(home)
    yield home / "postcred" / "trusted-models.sha256"
    if previous is None:
        os.environ.pop("XDG_DATA_HOME", None)
    else:
        os.environ["XDG_DATA_HOME"] = previous


def error_line(result, *, only: bool = False) -> str:
    """The one ``Error:`` line of a failed CLI run: exit code 1, no traceback, no internal
    error; with ``only``, nothing else was printed (else the line saying how the dump was
    read, and warnings, may come first)."""
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and "internal error" not in result.output, result.output
    lines = result.output.strip().splitlines()
    errors = [line for line in lines if line.startswith("Error: ")]
    assert len(errors) == 1 and (not only or len(lines) == 1), result.output
    return errors[0]


def csv_rows(path: Path) -> list[dict]:
    """The rows of a CSV file as dicts, the file closed after."""
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def jsonl_rows(path: Path) -> list[dict]:
    """The JSON objects of a JSONL file, split at \\n only (as postcred reads JSONL: a
    U+2028 inside a text is not a line break)."""
    import json

    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").split("\n") if line.strip()]


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
