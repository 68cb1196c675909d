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
def seed_rows():
    """The seed scored by the shipped model (once per test session)."""
    from classifier.scoring import score_file

    rows, _ = score_file(SEED)
    return rows
