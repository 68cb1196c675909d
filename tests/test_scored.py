"""The scored record is the one source of every output: a column added to
:data:`classifier.scored.COLUMNS` appears in CSV, JSONL and Parquet files alike, and a
JSONL row reads back into the record it came from."""

from __future__ import annotations

import csv
import json

import pytest

from classifier import scored
from classifier.run import score_to_files
from classifier.scored import Column, from_json_row, json_row
from classifier.writers import parquet_table


@pytest.fixture
def with_length_column(monkeypatch):
    """COLUMNS with one more column, the text's length in characters (before p_wire)."""
    columns = list(scored.COLUMNS)
    at = [c.name for c in columns].index("p_wire")
    columns.insert(at, Column("chars", lambda record: len(record.text), arrow="int64"))
    monkeypatch.setattr(scored, "COLUMNS", tuple(columns))
    return [c.name for c in columns]


def test_a_new_column_appears_in_every_scores_file(tmp_path, seed_path, seed_records, with_length_column):
    score_to_files(str(seed_path), output=tmp_path / "s.csv", write_report=False, campaigns=None)
    score_to_files(str(seed_path), output=tmp_path / "s.jsonl", write_report=False, campaigns=None,
                   write_accounts=False)
    with (tmp_path / "s.csv").open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == [name for name in with_length_column if name != "evidence"]
        assert [int(row["chars"]) for row in reader] == [len(r.text) for r in seed_records]
    rows = [json.loads(line) for line in (tmp_path / "s.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [list(row) for row in rows] == [with_length_column] * len(seed_records)
    assert [row["chars"] for row in rows] == [len(r.text) for r in seed_records]
    pytest.importorskip("pyarrow")
    table = parquet_table(seed_records)
    assert table.column_names == with_length_column
    assert table.column("chars").to_pylist() == [len(r.text) for r in seed_records]


def test_jsonl_rows_read_back_into_the_records(seed_records):
    for record in seed_records:
        row = json.loads(json.dumps(json_row(record), ensure_ascii=False))
        again = from_json_row(row)
        assert json_row(again) == row
        assert (again.id, again.p_wire, again.markers, again.techniques) == (
            record.id, record.p_wire, record.markers, record.techniques)
