"""The tables as a database: SQLite with keys that join and counts that equal the CSVs,
Parquet with the same rows, campaigns joined through post ids."""

from __future__ import annotations

import csv
import re
import shlex
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from classifier.accounts import ACCOUNT_COLUMNS, DAY_COLUMNS, AccountsBuilder
from classifier.database import TABLES, open_tables
from classifier.outputs import all_or_none

from .accounts_dumps import read_csv, run
from .conftest import ROOT, SEED


def typed(rows: list[dict], columns) -> list[tuple]:
    """CSV rows as the database stores them (numbers, None for empty cells, 0/1 booleans)."""
    kinds = dict(columns)
    out = []
    for row in rows:
        cells = []
        for name, _ in columns:
            value, kind = row[name], kinds[name]
            if kind == "BOOLEAN":
                cells.append(int(value == "true"))
            elif value == "" and kind != "TEXT":
                cells.append(None)
            else:
                cells.append(int(value) if kind == "INTEGER" else float(value) if kind == "REAL" else value)
        out.append(tuple(cells))
    return out


@pytest.fixture(scope="module")
def db(account_dumps):
    connection = sqlite3.connect(account_dumps["timed"]["sqlite"])
    yield connection
    connection.close()


def test_the_database_holds_every_table_with_keys_and_indexes(db):
    names = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert names == {"segments", "posts", "accounts", "account_days", "campaigns", "campaign_posts"}
    references = {
        (table, row[3], row[2], row[4])
        for table in names
        for row in db.execute(f"PRAGMA foreign_key_list({table})")
    }
    assert references == {
        ("posts", "handle", "accounts", "handle"),
        ("segments", "post_id", "posts", "post_id"),
        ("account_days", "handle", "accounts", "handle"),
        ("campaign_posts", "campaign", "campaigns", "campaign"),
        ("campaign_posts", "post_id", "posts", "post_id"),
    }
    keys = {table: [row[1] for row in sorted(db.execute(f"PRAGMA table_info({table})"), key=lambda r: r[5]) if row[5]]
            for table in names}
    assert keys["segments"] == ["id"] and keys["posts"] == ["post_id"] and keys["accounts"] == ["handle"]
    assert keys["account_days"] == ["handle", "date"]
    indexed = {row[1] for row in db.execute("PRAGMA index_list(segments)")}
    assert "segments_post_id" in indexed
    assert db.execute("PRAGMA foreign_key_check").fetchall() == []


def test_its_counts_equal_the_csvs(db, account_dumps):
    timed = account_dumps["timed"]
    assert typed(list(timed["accounts"].values()), ACCOUNT_COLUMNS) == db.execute(
        "SELECT * FROM accounts ORDER BY posts DESC, handle").fetchall()
    assert typed(timed["days"], DAY_COLUMNS) == db.execute("SELECT * FROM account_days ORDER BY rowid").fetchall()
    scores = read_csv(timed["scores"])
    assert db.execute("SELECT COUNT(*) FROM segments").fetchone()[0] == len(scores)
    assert db.execute("SELECT COUNT(DISTINCT post_id) FROM posts").fetchone()[0] == len({r["post_id"] for r in scores})
    # The keys join: segments -> posts -> accounts, per account the same counts as the CSV.
    joined = dict(db.execute("""
        SELECT a.handle, COUNT(*) FROM segments AS s
        JOIN posts AS p ON p.post_id = s.post_id JOIN accounts AS a ON a.handle = p.handle
        GROUP BY a.handle"""))
    assert joined == {h: int(r["segments"]) for h, r in timed["accounts"].items()}
    listed = dict(db.execute("SELECT handle, SUM(listings) FROM posts GROUP BY handle"))
    assert listed == {h: int(r["posts"]) for h, r in timed["accounts"].items()}
    per_day = dict(db.execute("""
        SELECT p.handle || ' ' || p.day, COUNT(*) FROM posts AS p JOIN account_days AS d
        ON d.handle = p.handle AND d.date = p.day GROUP BY p.handle, p.day"""))
    assert per_day == {f"{r['handle']} {r['date']}": int(r["posts"]) for r in timed["days"]}


def test_segments_keep_the_scores_file_cells(db, account_dumps):
    scores = read_csv(account_dumps["timed"]["scores"])
    stored = db.execute("SELECT id, text, p_wire, label, techniques FROM segments ORDER BY rowid").fetchall()
    assert stored == [(r["id"], r["text"], float(r["p_wire"]), r["label"], r["techniques"]) for r in scores]


def readme_section(title: str) -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return text.split(title, 1)[1].split("\n## ", 1)[0].split("\n### ", 1)[0]


def test_the_readme_query_runs(db):
    bursts, changed = re.findall(r"```sql\n(.*?)```", readme_section("\n## Accounts\n"), flags=re.S)
    rows = db.execute(bursts).fetchall()
    assert [row[:3] for row in rows] == [("burster", "2024-04-13", 25)]
    assert 0 <= rows[0][3] <= 1
    rows = db.execute(changed).fetchall()
    assert {row[0] for row in rows} == {"turncoat"}
    assert len(rows) == db.execute("SELECT SUM(listings) FROM posts WHERE handle = 'turncoat'").fetchone()[0]
    assert [row[2] < 0.5 for row in rows[:3]] == [False] * 3 and rows[-1][2] < 0.5  # wire first, partisan last


def test_the_readme_commands_run(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    (block,) = re.findall(r"```bash\n(.*?)```", readme_section("### `postcred accounts SCORES`"), flags=re.S)
    for line in block.splitlines():
        args = [str(tmp_path / Path(a).name) if a.startswith("reports/") else a for a in shlex.split(line)[1:]]
        result = run(*args)
        assert result.exit_code == 0, result.output
    assert "accounts 4, posts 9, account-days 6; bursts 0; changed 0; dates are day-only" in result.output
    assert sqlite3.connect(tmp_path / "seed.sqlite").execute("SELECT COUNT(*) FROM segments").fetchone() == (43,)
    assert len(read_csv(tmp_path / "seed.accounts.csv")) == 4


def test_campaigns_join_accounts_and_posts(account_dumps, tmp_path):
    scores = read_csv(account_dumps["timed"]["scores"])
    by_handle = {}
    for row in scores:
        by_handle.setdefault(row["handle"], []).append(row)
    members = [("7", by_handle["steady"][0]), ("7", by_handle["burster"][0]), ("12", by_handle["steady"][5])]
    campaigns = tmp_path / "dump.campaigns.csv"
    with open(campaigns, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["campaign", "post_id", "handle", "date", "similarity", "p_wire", "text"])
        for campaign, row in members:
            writer.writerow([campaign, row["post_id"], row["handle"], row["date"], 1.0, row["p_wire"], row["text"]])
    database = tmp_path / "c.sqlite"
    result = run("accounts", account_dumps["timed"]["scores"], "-o", tmp_path, "--campaigns", campaigns,
                 "--sqlite", database, "--parquet", tmp_path / "parquet")
    assert result.exit_code == 0, result.output
    accounts = {row["handle"]: row for row in read_csv(tmp_path / "timed.accounts.csv")}
    assert accounts["steady"]["campaigns"] == "7; 12"
    assert accounts["burster"]["campaigns"] == "7" and accounts["turncoat"]["campaigns"] == ""
    db = sqlite3.connect(database)
    assert db.execute("SELECT campaign, posts, accounts FROM campaigns ORDER BY CAST(campaign AS INTEGER)").fetchall() \
        == [("7", 2, 2), ("12", 1, 1)]
    assert sorted(db.execute("""
        SELECT m.campaign, p.handle FROM campaign_posts AS m JOIN posts AS p USING (post_id)""").fetchall()) \
        == [("12", "steady"), ("7", "burster"), ("7", "steady")]
    pq = pytest.importorskip("pyarrow.parquet")
    assert pq.read_table(tmp_path / "parquet" / "campaign_posts.parquet").num_rows == 3
    assert pq.read_table(tmp_path / "parquet" / "campaigns.parquet").column("posts").to_pylist() == [2, 1]


def test_a_campaign_post_missing_from_the_scores_fails_the_whole_run(account_dumps, tmp_path):
    campaigns = tmp_path / "c.csv"
    campaigns.write_text("campaign,post_id\n1,no-such-post\n", encoding="utf-8")
    result = run("accounts", account_dumps["timed"]["scores"], "-o", tmp_path, "--campaigns", campaigns,
                 "--sqlite", tmp_path / "c.sqlite")
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"Error: {tmp_path / 'c.sqlite'}: campaign 1 lists post 'no-such-post', which is not in the scores"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.csv"]


@pytest.mark.parametrize("group_rows", [1 << 16, 7])
def test_parquet_tables_have_the_database_rows(account_dumps, tmp_path, monkeypatch, group_rows):
    """Whatever the tables' row groups (the end's tables are written a group of rows at
    a time), the Parquet files hold the database's rows in its order."""
    pq = pytest.importorskip("pyarrow.parquet")
    import classifier.database as database

    monkeypatch.setattr(database, "TABLE_ROWS_PER_GROUP", group_rows)
    monkeypatch.setattr(database, "STAGED_ROWS_PER_GROUP", group_rows)
    timed = account_dumps["timed"]
    result = run("accounts", timed["scores"], "-o", tmp_path, "--parquet", tmp_path / "pq")
    assert result.exit_code == 0, result.output
    db = sqlite3.connect(timed["sqlite"])
    for table in TABLES:
        parquet = pq.read_table(tmp_path / "pq" / f"{table.name}.parquet")
        assert parquet.column_names == list(table.names)
        stored = db.execute(f"SELECT * FROM {table.name} ORDER BY rowid").fetchall()
        assert parquet.num_rows == len(stored), table.name
        kinds = dict(table.columns)
        as_db = [tuple(int(v) if kinds[k] == "BOOLEAN" and v is not None else v for k, v in row.items())
                 for row in parquet.to_pylist()]
        assert as_db == stored, table.name
    for name in ("account_days", "segments", "posts"):
        meta = pq.ParquetFile(tmp_path / "pq" / f"{name}.parquet").metadata
        assert meta.num_row_groups == -(-meta.num_rows // group_rows), name
    assert sorted(p.name for p in (tmp_path / "pq").iterdir()) == sorted(f"{t.name}.parquet" for t in TABLES)


def test_parquet_rows_wait_on_disk_and_pyarrow_is_not_loaded_while_scoring(tmp_path):
    """The posts' and segments' rows of a Parquet run wait in a temporary file until the
    end: pyarrow (its libraries and memory pool: about 90 MB) is not loaded while the run
    scores, and the file is gone once the run is abandoned."""
    pytest.importorskip("pyarrow")
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from classifier.startup import import_sklearn_lean\n"
        "import_sklearn_lean()  # as postcred score starts: scikit-learn without pandas (which loads pyarrow)\n"
        "from classifier.database import TABLE, open_tables\n"
        "from classifier.outputs import all_or_none\n"
        "try:\n"
        "    with all_or_none() as outputs:\n"
        "        writer = open_tables(outputs, Path(sys.argv[1]), 'parquet', force=False)\n"
        "        for k in range(3000):\n"
        "            writer.add_chunk([], [TABLE['segments'].values({'id': f'd:{k}', 'text': 'x' * 50})])\n"
        "        print('pyarrow' in sys.modules, len(list(Path(sys.argv[1]).glob('.parquet-rows*'))))\n"
        "        raise KeyboardInterrupt\n"
        "except KeyboardInterrupt:\n"
        "    print(sorted(p.name for p in Path(sys.argv[1]).iterdir()) if Path(sys.argv[1]).exists() else [])\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "pq")], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[1], timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines() == ["False 1", "[]"]


def test_a_parquet_run_does_not_load_pandas_and_pandas_still_loads_when_asked(tmp_path):
    """Writing the Parquet tables at the end of a run leaves pandas unloaded (pyarrow
    would import it for its first array: about 40 MB more at the end of a large run);
    a caller asking pyarrow for a pandas DataFrame afterwards still gets one."""
    pytest.importorskip("pyarrow")
    pytest.importorskip("pandas")
    code = (
        "import sys\n"
        "from classifier.startup import import_sklearn_lean\n"
        "import_sklearn_lean()  # as postcred score starts\n"
        "from classifier.run import score_to_files\n"
        "score_to_files(sys.argv[1], output=sys.argv[2], fmt='parquet', write_report=False)\n"
        "print('pandas' in sys.modules)\n"
        "import pyarrow.parquet as pq\n"
        "frame = pq.read_table(sys.argv[2] + '/segments.parquet').to_pandas()\n"
        "print('pandas' in sys.modules, type(frame).__name__, len(frame) > 0)\n"
    )
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", code, str(SEED), str(tmp_path / "pq")],
                          capture_output=True, text=True, cwd=root, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines() == ["False", "True DataFrame True"]


def test_a_dask_output_folder_reads_as_one_scores_file(account_dumps, tmp_path):
    lines = account_dumps["timed"]["scores"].read_text(encoding="utf-8").splitlines(keepends=True)
    header, body = lines[0], lines[1:]
    folder = tmp_path / "big.scores"
    folder.mkdir()
    (folder / "part-00000.csv").write_text(header + "".join(body[:200]), encoding="utf-8")
    (folder / "part-00001.csv").write_text(header + "".join(body[200:]), encoding="utf-8")
    result = run("accounts", folder)
    assert result.exit_code == 0, result.output
    assert read_csv(folder / "big.account_days.csv") == account_dumps["timed"]["days"]


def test_a_post_listed_twice_is_one_post_row_with_two_listings(tmp_path):
    rows = [
        {"id": f"d:{i}", "dump": "d", "record": record, "post_id": post_id, "account": "A", "handle": "a",
         "date": "2024-03-04", "role": "post", "kind": "post", "p_wire": 0.2, "techniques": {}}
        for i, (record, post_id) in enumerate([(1, "p1"), (2, "p2"), (3, "p1")], start=1)
    ]
    builder = AccountsBuilder(tz="UTC")
    with all_or_none() as outputs:
        writer = open_tables(outputs, tmp_path / "d.sqlite", "sqlite", force=False)
        for post, segments in builder.add_rows(rows):
            writer.add_post(post, segments)
        tables = builder.finish()
        writer.finish(tables)
    assert tables.accounts[0]["posts"] == 3
    db = sqlite3.connect(tmp_path / "d.sqlite")
    assert db.execute("SELECT post_id, listings FROM posts ORDER BY post_id").fetchall() == [("p1", 2), ("p2", 1)]
    assert db.execute("SELECT COUNT(*) FROM segments").fetchone()[0] == 3


def test_a_minimal_campaigns_file_joins_by_post_id_and_a_post_may_be_in_two(account_dumps, tmp_path):
    """A campaigns file of only campaign and post_id joins each campaign to the account of
    its post; a post listed in two campaigns gives its account both (a dict of post ->
    campaign kept only the last)."""
    scores = read_csv(account_dumps["timed"]["scores"])
    steady = [row for row in scores if row["handle"] == "steady"][0]
    burster = [row for row in scores if row["handle"] == "burster"][0]
    campaigns = tmp_path / "c.csv"
    campaigns.write_text(f"campaign,post_id\n7,{steady['post_id']}\n12,{steady['post_id']}\n7,{burster['post_id']}\n",
                         encoding="utf-8")
    result = run("accounts", account_dumps["timed"]["scores"], "-o", tmp_path, "--campaigns", campaigns)
    assert result.exit_code == 0, result.output
    accounts = {row["handle"]: row for row in read_csv(tmp_path / "timed.accounts.csv")}
    assert (accounts["steady"]["campaigns"], accounts["burster"]["campaigns"]) == ("7; 12", "7")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.csv", "timed.account_days.csv", "timed.accounts.csv"]


def test_campaigns_of_posts_answers_as_a_dict_would():
    from classifier.accounts_files import CampaignsOfPosts

    lookup = CampaignsOfPosts()
    members = [{"campaign": f"C{k % 50}", "post_id": f"post{k % 700}"} for k in range(2000)]
    assert list(lookup.collect(iter(members))) == members
    expected: dict[str, list[str]] = {}
    for m in members:
        expected.setdefault(m["post_id"], []).append(m["campaign"])
    for post_id, campaigns in expected.items():
        assert lookup.get(post_id) == campaigns
    assert lookup.get("post-none") is None and lookup.get("", []) == []
