"""`postcred score` writes the account tables itself, from the records as they are scored:
the same bytes as `postcred accounts` on its scores file, with one process, two, or a Dask
cluster; `--format sqlite` writes every table into one database; a failed run leaves no
output behind."""

from __future__ import annotations

import os
import sqlite3

import pytest

from classifier.run import score_to_files

from .accounts_dumps import BURST_DAY, SWITCH_DAY, START, read_csv, run

TABLES = ("accounts.csv", "account_days.csv")


def table_bytes(folder, stem: str) -> list[bytes]:
    return [(folder / f"{stem}.{name}").read_bytes() for name in TABLES]


@pytest.mark.parametrize("dump", ["timed", "dayonly"])
def test_score_writes_the_tables_accounts_would_make_of_its_scores(account_dumps, dump):
    tables = account_dumps[dump]
    scores = tables["scores"]
    assert table_bytes(scores.parent, dump) == table_bytes(tables["again"], dump)
    assert f"accounts: {scores.parent / f'{dump}.accounts.csv'}" in tables["score_output"]
    note = "dates are day-only (no times): no hours" if dump == "dayonly" else "hours in Asia/Tokyo"
    assert note in tables["score_output"]


@pytest.mark.parametrize("dump", ["timed", "dayonly"])
def test_score_sees_the_switch_and_the_burst(account_dumps, dump):
    """What issue 15's "done when" asks, read from the CSVs `score` wrote."""
    days = {(row["handle"], row["date"]): row for row in account_dumps[dump]["days"]}
    switch = START.toordinal() + SWITCH_DAY
    turncoat = [(row["date"], float(row["partisan_share"])) for (handle, _), row in days.items() if handle == "turncoat"]
    assert max(share for d, share in turncoat if START.fromisoformat(d).toordinal() < switch) <= 0.2
    assert min(share for d, share in turncoat if START.fromisoformat(d).toordinal() >= switch) >= 0.8
    assert account_dumps[dump]["accounts"]["turncoat"]["changed"] == "true"
    burst_day = START.fromordinal(START.toordinal() + BURST_DAY).isoformat()
    assert [key for key, row in days.items() if row["burst"] == "true"] == [("burster", burst_day)]


def test_two_jobs_give_the_same_bytes(account_dumps, tmp_path):
    dump = account_dumps["timed"]["dump"]
    result = run("score", dump, "-o", tmp_path / "timed.csv", "--jobs", "2", "--no-report", "-q")
    assert result.exit_code == 0, result.output
    assert table_bytes(tmp_path, "timed") == table_bytes(account_dumps["timed"]["scores"].parent, "timed")


def test_the_dask_engine_gives_the_same_bytes(account_dumps, tmp_path):
    if os.environ.get("CI"):
        import distributed  # CI installs the dask extra: there the test runs, never skips
    else:
        distributed = pytest.importorskip("distributed")
    from classifier.distributed import score_dask

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=40) as cluster, distributed.Client(cluster) as client:
        run_ = score_dask(str(account_dumps["timed"]["dump"]), output=tmp_path / "timed", client=client,
                          write_report=False, partition_size=300)
    assert len(list((tmp_path / "timed").glob("part-*.jsonl"))) > 1
    assert run_.accounts_csv == tmp_path / "timed.accounts.csv"
    assert table_bytes(tmp_path, "timed") == table_bytes(account_dumps["timed"]["scores"].parent, "timed")


def test_time_zone_of_score(account_dumps, tmp_path):
    result = run("score", account_dumps["timed"]["dump"], "-o", tmp_path / "utc.csv", "--tz", "UTC", "--no-report")
    assert result.exit_code == 0, result.output
    assert "hours in UTC" in result.output
    in_tokyo = read_csv(account_dumps["timed"]["scores"].parent / "timed.account_days.csv")
    in_utc = read_csv(tmp_path / "utc.account_days.csv")
    assert sum(int(r["posts"]) for r in in_utc) == sum(int(r["posts"]) for r in in_tokyo)
    assert [(r["date"], r["posts"]) for r in in_utc] != [(r["date"], r["posts"]) for r in in_tokyo]
    bad = run("score", account_dumps["timed"]["dump"], "-o", tmp_path / "x.csv", "--tz", "Mars/Olympus")
    assert bad.exit_code == 2 and "unknown time zone 'Mars/Olympus'" in bad.output
    assert not (tmp_path / "x.csv").exists()


def test_no_accounts_writes_none(account_dumps, tmp_path):
    result = run("score", account_dumps["dayonly"]["dump"], "-o", tmp_path / "d.csv", "--no-accounts", "--no-report")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.campaign_summary.csv", "d.campaigns.csv", "d.csv"]


@pytest.fixture(scope="module")
def scored_db(account_dumps, tmp_path_factory):
    folder = tmp_path_factory.mktemp("db")
    result = run("score", account_dumps["timed"]["dump"], "-o", folder / "timed.sqlite", "--no-report")
    assert result.exit_code == 0, result.output
    return folder


def test_score_to_sqlite_holds_every_table_and_equals_the_csvs(scored_db, account_dumps):
    db = sqlite3.connect(scored_db / "timed.sqlite")
    tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert tables == {"segments", "posts", "accounts", "account_days", "campaigns", "campaign_posts"}
    # The CSVs beside the database are the ones a CSV run writes.
    assert table_bytes(scored_db, "timed") == table_bytes(account_dumps["timed"]["scores"].parent, "timed")
    scores = read_csv(account_dumps["timed"]["scores"])
    accounts = read_csv(scored_db / "timed.accounts.csv")
    days = read_csv(scored_db / "timed.account_days.csv")
    count = lambda sql: db.execute(sql).fetchone()[0]  # noqa: E731
    assert count("SELECT COUNT(*) FROM segments") == len(scores)
    assert count("SELECT COUNT(*) FROM accounts") == len(accounts)
    assert count("SELECT COUNT(*) FROM account_days") == len(days)
    assert count("SELECT SUM(listings) FROM posts") == sum(int(row["posts"]) for row in accounts)
    # Every segment joins its post and its account; posts per account equal the CSV's.
    assert count("SELECT COUNT(*) FROM segments JOIN posts USING (post_id) JOIN accounts ON accounts.handle = "
                 "posts.handle") == len(scores)
    per_account = dict(db.execute("SELECT handle, SUM(listings) FROM posts GROUP BY handle").fetchall())
    assert per_account == {row["handle"]: int(row["posts"]) for row in accounts}
    assert db.execute("PRAGMA foreign_key_check").fetchall() == []
    assert {row[2] for row in db.execute("PRAGMA foreign_key_list(segments)")} == {"posts"}
    assert db.execute("SELECT id, p_wire, label FROM segments ORDER BY rowid LIMIT 1").fetchone() == (
        scores[0]["id"], float(scores[0]["p_wire"]), scores[0]["label"])


def test_score_to_parquet_tables(account_dumps, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    result = run("score", account_dumps["dayonly"]["dump"], "--format", "parquet", "-o", tmp_path / "tables",
                 "--no-report")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "tables").iterdir()) == [
        "account_days.parquet", "accounts.parquet", "campaign_posts.parquet", "campaigns.parquet", "posts.parquet",
        "segments.parquet"]
    assert pq.read_table(tmp_path / "tables" / "segments.parquet").num_rows == len(
        read_csv(account_dumps["dayonly"]["scores"]))
    assert pq.read_table(tmp_path / "tables" / "account_days.parquet").num_rows == len(account_dumps["dayonly"]["days"])


def test_campaign_ids_of_posts_reach_the_accounts_and_the_database(account_dumps, tmp_path):
    scores = read_csv(account_dumps["timed"]["scores"])
    first = {}
    for row in scores:
        first.setdefault(row["handle"], row["post_id"])
    post_campaigns = {first["turncoat"]: ["7", "12"], first["steady"]: "7"}
    run_ = score_to_files(str(account_dumps["timed"]["dump"]), output=tmp_path / "c.sqlite", write_report=False,
                          post_campaigns=post_campaigns)
    accounts = {row["handle"]: row["campaigns"] for row in read_csv(run_.accounts_csv)}
    assert accounts == {"turncoat": "7; 12", "steady": "7", "burster": ""}
    db = sqlite3.connect(tmp_path / "c.sqlite")
    assert db.execute("SELECT campaign, posts FROM campaigns ORDER BY campaign").fetchall() == [("12", 1), ("7", 2)]
    joined = db.execute("SELECT DISTINCT p.handle FROM campaign_posts JOIN posts AS p USING (post_id) "
                        "WHERE campaign = '7' ORDER BY 1").fetchall()
    assert joined == [("steady",), ("turncoat",)]


def test_a_failed_run_leaves_no_output(account_dumps, tmp_path, monkeypatch):
    import classifier.report

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(classifier.report, "report_chunks", broken)
    result = run("score", account_dumps["dayonly"]["dump"], "-o", tmp_path / "d.csv")
    assert result.exit_code != 0
    assert list(tmp_path.iterdir()) == []
    # An existing table is refused before anything is scored or written.
    (tmp_path / "d.accounts.csv").write_text("mine\n", encoding="utf-8")
    result = run("score", account_dumps["dayonly"]["dump"], "-o", tmp_path / "d.csv", "--no-report")
    assert result.exit_code == 1
    assert result.output.strip() == f"Error: {tmp_path / 'd.accounts.csv'}: already exists; use --force to replace it"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.accounts.csv"]
