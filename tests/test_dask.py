"""``--engine dask``: a dump scored across a Dask cluster (a LocalCluster of two worker
processes here) gives the same rows as the local engine, partition files in input order."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from classifier.cli import cli
from classifier.run import score_to_files
from classifier.source import ReadOptions

from .conftest import csv_rows

if os.environ.get("CI"):
    import distributed  # CI installs the dask extra: there the test runs, never skips
else:
    distributed = pytest.importorskip("distributed")

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=40) as local:
        yield local


@pytest.fixture(scope="module")
def client(cluster):
    with distributed.Client(cluster) as connected:
        yield connected


@pytest.fixture(scope="module")
def lines_dump(tmp_path_factory) -> Path:
    """600 labeled texts, one post per line."""
    texts = []
    for path in sorted((ROOT / "labels").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                texts.append(" ".join(str(json.loads(line)["text"]).split()))
            except (ValueError, KeyError, TypeError):
                continue
    path = tmp_path_factory.mktemp("dump") / "lines.txt"
    path.write_text("\n".join(texts[k % len(texts)] for k in range(600)) + "\n", encoding="utf-8")
    return path


def local_rows(dump: Path, tmp_path: Path, read: ReadOptions | None = None) -> list[dict]:
    out = tmp_path / "local.jsonl"
    score_to_files(str(dump), output=out, write_report=False, read=read)
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]


def partition_rows(folder: Path) -> list[dict]:
    return [json.loads(line) for path in sorted(folder.glob("part-*.jsonl"))
            for line in path.read_text(encoding="utf-8").splitlines()]


def test_dask_jsonl_partitions_equal_the_local_rows(tmp_path, lines_dump, client):
    from classifier.distributed import score_dask

    folder = tmp_path / "scores"
    lines = ReadOptions(input_format="lines")
    run = score_dask(str(lines_dump), output=folder, client=client, partition_size=150, write_report=False, read=lines)
    assert len(list(folder.glob("part-*.jsonl"))) == 4
    assert partition_rows(folder) == local_rows(lines_dump, tmp_path, lines)
    assert run.summary.segments == 600 and sum(run.label_counts.values()) == 600


def test_dask_parquet_and_csv_partitions(tmp_path, seed_path, client):
    import pyarrow.parquet as pq

    from classifier.distributed import score_dask

    expected = local_rows(seed_path, tmp_path)
    score_dask(str(seed_path), output=tmp_path / "pq", client=client, fmt="parquet", partition_size=20,
               write_report=False)
    table = pq.read_table(sorted((tmp_path / "pq").glob("part-*.parquet")))
    assert table.column("id").to_pylist() == [r["id"] for r in expected]
    assert table.column("p_wire").to_pylist() == [r["p_wire"] for r in expected]
    assert table.column("urls").to_pylist() == [r["urls"] for r in expected]
    assert [json.loads(e) for e in table.column("evidence").to_pylist()] == [r["evidence"] for r in expected]
    score_dask(str(seed_path), output=tmp_path / "csv", client=client, fmt="csv", partition_size=20,
               write_report=False)
    parts = sorted((tmp_path / "csv").glob("part-*.csv"))
    assert len(parts) > 1
    rows = [row for path in parts for row in csv_rows(path)]
    assert [row["id"] for row in rows] == [r["id"] for r in expected]  # every partition has its header


def test_cli_engine_dask_with_report(tmp_path, seed_path, cluster):
    folder = tmp_path / "seed.scores"
    args = ["score", str(seed_path), "--engine", "dask", "--scheduler", cluster.scheduler_address, "-o", str(folder)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "records read 9, scored 9, rejected 0; segments 43" in result.output
    assert partition_rows(folder) == local_rows(seed_path, tmp_path)
    assert (tmp_path / "seed.html").exists()
    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 1
    assert "already holds scores partitions; use --force" in again.output
    assert CliRunner().invoke(cli, [*args, "--force"]).exit_code == 0


def test_cli_engine_dask_needs_an_output_folder(seed_path):
    result = CliRunner().invoke(cli, ["score", str(seed_path), "--engine", "dask", "--scheduler", "tcp://x:1"])
    assert result.exit_code == 2
    assert "--engine dask needs -o/--output" in result.output


def test_missing_dask_is_one_line_error(tmp_path, seed_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    result = CliRunner().invoke(cli, ["score", str(seed_path), "--engine", "dask", "--scheduler", "tcp://x:1",
                                      "-o", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert result.output.strip() == (
        "Error: the dask engine needs Dask: pip install -e '.[dask]' (or pip install 'dask[distributed]' pyarrow)"
    )
