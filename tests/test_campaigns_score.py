"""Campaign detection inside ``postcred score``: the files it writes beside the scores, the
same campaigns whatever the engine (one process, ``--jobs 2``, Dask), ``--no-campaigns``,
the shared options, all-or-none outputs, and the report's Campaigns section."""

from __future__ import annotations

import json
import os

import pytest
from bs4 import BeautifulSoup
from click.testing import CliRunner

from classifier.campaigns_view import CHANGED, MISSING, SAME, campaign_view, diff_pieces
from classifier.cli import cli
from tests.synthetic_campaigns import DumpGenerator, write_snscrape

from .conftest import csv_rows

CAMPAIGN_FILES = ("dump.campaigns.csv", "dump.campaign_summary.csv")
ACCOUNT_FILES = ("dump.accounts.csv", "dump.account_days.csv")


def run(*args):
    return CliRunner().invoke(cli, list(map(str, args)))


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """A generated dump: organic posts, three planted campaigns with 1-5 character edits,
    emoji and mention swaps (some accounts in two of them), share-button posts."""
    folder = tmp_path_factory.mktemp("score-campaigns")
    posts = DumpGenerator(seed=11).dump(organic=220, campaigns=3, accounts=(6, 9), share_button=10, puppets=12)
    return write_snscrape(posts, folder / "dump.jsonl"), posts


@pytest.fixture(scope="module")
def scored(generated, tmp_path_factory):
    """The dump scored by ``postcred score`` with its defaults (report included)."""
    dump, posts = generated
    folder = tmp_path_factory.mktemp("scored")
    result = run("score", dump, "-o", folder / "dump.scores.csv")
    assert result.exit_code == 0, result.output
    return folder, posts, result.output


def c_first(rows: list[dict], campaign: dict) -> str:
    """The post id of a campaign's first post."""
    return next(r["post_id"] for r in rows if r["campaign"] == campaign["campaign"])


def test_score_writes_the_campaign_files_beside_the_scores(scored, tmp_path):
    folder, posts, output = scored
    assert sorted(p.name for p in folder.iterdir()) == sorted(["dump.scores.csv", "dump.html", *CAMPAIGN_FILES,
                                                                *ACCOUNT_FILES])
    rows = csv_rows(folder / "dump.campaigns.csv")
    summary = csv_rows(folder / "dump.campaign_summary.csv")
    group = {p.post_id: p.group for p in posts}
    planted_campaigns = [c for c in summary if group[c_first(rows, c)].startswith("campaign:")]
    assert len(planted_campaigns) == 3 and all(c["kind"] == "copypasta" for c in planted_campaigns)
    for c in planted_campaigns:
        members = [r for r in rows if r["campaign"] == c["campaign"]]
        assert len({group[r["post_id"]] for r in members}) == 1
        assert int(c["posts"]) == len(members) >= int(c["accounts"]) >= 6
    planted = {p.post_id for p in posts if p.planted}
    found = {r["post_id"] for r in rows if r["kind"] == "copypasta"}
    assert len(found & planted) >= 0.95 * len(planted)
    # share templates hold only headlines shared with their link (by share buttons, or by readers adding a
    # comment): never a planted copy nor an organic post that quotes no headline
    assert all(group[r["post_id"]].startswith(("share:", "headline:")) for r in rows if r["kind"] == "share_template")
    assert f"campaigns: post segments {len(posts)}" in output and f"campaigns {len(summary)} (" in output
    # rerunning detection on the scores file gives the same files, byte for byte
    assert run("campaigns", folder / "dump.scores.csv", "-o", tmp_path, "-q").exit_code == 0
    for name in CAMPAIGN_FILES:
        assert (tmp_path / name).read_bytes() == (folder / name).read_bytes(), name


def test_no_campaigns_writes_none(generated, tmp_path):
    dump, _ = generated
    result = run("score", dump, "-o", tmp_path / "dump.scores.csv", "--no-campaigns", "-q")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["dump.html", "dump.scores.csv", *ACCOUNT_FILES])
    assert all(row["campaigns"] == "" for row in csv_rows(tmp_path / "dump.accounts.csv"))
    soup = BeautifulSoup((tmp_path / "dump.html").read_text(encoding="utf-8"), "html.parser")
    assert soup.select_one("#campaigns #campaigns-off") is not None
    assert soup.select_one("#campaign-data") is None


def test_the_options_reach_detection_in_score(generated, tmp_path):
    dump, _ = generated
    result = run("score", dump, "-o", tmp_path / "dump.scores.csv", "--no-report", "-q", "--min-accounts", "50")
    assert result.exit_code == 0, result.output
    assert csv_rows(tmp_path / "dump.campaign_summary.csv") == []
    clash = run("score", dump, "-o", tmp_path / "x.csv", "--num-perm", "8", "--bands", "9")
    assert clash.exit_code == 2 and "bands (9) cannot exceed num_perm (8)" in clash.output
    assert not (tmp_path / "x.csv").exists()


def test_score_help_shows_every_threshold_with_its_default():
    result = run("score", "--help")
    assert result.exit_code == 0
    flat = " ".join(result.output.split("Options:", 1)[1].split())
    assert "--no-campaigns" in flat
    for option, default in [("--threshold", "0.6"), ("--min-chars", "20"), ("--min-accounts", "2"),
                            ("--fast-seconds", "60"), ("--num-perm", "128"), ("--bands", "25"), ("--window", "64"),
                            ("--share-p-wire", "0.6"), ("--share-url-share", "0.5"), ("--seed", "1")]:
        assert f"[default: {default}" in flat.split(option + " ", 1)[1].split(" --", 1)[0], option


def test_existing_campaign_files_stop_the_run_before_anything_is_written(generated, tmp_path):
    dump, _ = generated
    (tmp_path / "dump.campaigns.csv").write_text("mine\n", encoding="utf-8")
    result = run("score", dump, "-o", tmp_path / "dump.scores.csv", "-q")
    assert result.exit_code == 1 and "dump.campaigns.csv: already exists; use --force" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dump.campaigns.csv"]
    assert run("score", dump, "-o", tmp_path / "dump.scores.csv", "-q", "--force").exit_code == 0
    assert csv_rows(tmp_path / "dump.campaigns.csv")[0]["campaign"] == "C0001"


def test_a_failure_while_writing_campaigns_leaves_no_output(generated, tmp_path, monkeypatch):
    import classifier.campaign_files

    dump, _ = generated

    def failing(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(classifier.campaign_files, "write_csv", failing)
    result = run("score", dump, "-o", tmp_path / "dump.scores.csv", "-q")
    assert result.exit_code == 1 and "disk full" in result.output
    assert list(tmp_path.iterdir()) == []  # no scores, no report, no campaign file, no temporary file


def campaign_files_of(folder, stem="dump") -> dict[str, bytes]:
    """The campaign files and the account tables (whose campaigns column they fill)."""
    suffixes = (".campaigns.csv", ".campaign_summary.csv", ".accounts.csv", ".account_days.csv")
    return {suffix: (folder / f"{stem}{suffix}").read_bytes() for suffix in suffixes}


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks of 60 segments, so that the dump is scored (and sketched) in several."""
    import classifier.run

    monkeypatch.setattr(classifier.run, "CHUNK_SIZE", 60)


def test_jobs_2_and_dask_find_the_same_campaigns_as_one_process(generated, tmp_path, small_chunks):
    dump, _ = generated
    for jobs in ("1", "2"):
        result = run("score", dump, "-o", tmp_path / jobs / "dump.scores.jsonl", "--no-report", "-q", "--jobs", jobs)
        assert result.exit_code == 0, result.output
    one = campaign_files_of(tmp_path / "1")
    assert one == campaign_files_of(tmp_path / "2")
    assert len(csv_rows(tmp_path / "1" / "dump.campaign_summary.csv")) >= 3
    if os.environ.get("CI"):
        import distributed
    else:
        distributed = pytest.importorskip("distributed")
    from classifier.distributed import score_dask

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=40) as cluster, distributed.Client(cluster) as client:
        score_dask(str(dump), output=tmp_path / "dask" / "dump.scores", client=client, partition_size=60,
                   write_report=False)
    assert len(list((tmp_path / "dask" / "dump.scores").glob("part-*.jsonl"))) > 3
    assert campaign_files_of(tmp_path / "dask") == one


# ---------------------------------------------------------------- the account tables


def campaigns_by_account(rows: list[dict]) -> dict[str, set[str]]:
    """Each account's campaigns, from campaign membership rows (``handle``, ``campaign``)."""
    found: dict[str, set[str]] = {}
    for row in rows:
        found.setdefault(row["handle"], set()).add(str(row["campaign"]))
    return found


def test_an_account_in_a_planted_campaign_has_it_in_accounts_csv_and_sqlite(scored, generated, tmp_path):
    import sqlite3

    folder, posts, _ = scored
    rows = csv_rows(folder / "dump.campaigns.csv")
    expected = campaigns_by_account(rows)
    accounts = {row["handle"]: set(filter(None, row["campaigns"].split("; ")))
                for row in csv_rows(folder / "dump.accounts.csv")}
    assert {handle: ids for handle, ids in accounts.items() if ids} == expected
    planted = {p.handle for p in posts if p.group.startswith("campaign:")}
    assert planted and all(accounts[handle] for handle in planted)
    assert any(len(ids) > 1 for ids in accounts.values())  # some accounts pushed two of the planted campaigns
    # the database of the same dump holds the same campaigns, joined to the accounts through their posts
    dump, _ = generated
    result = run("score", dump, "-o", tmp_path / "dump.sqlite", "--no-report", "-q")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "dump.campaigns.csv").read_bytes() == (folder / "dump.campaigns.csv").read_bytes()
    db = sqlite3.connect(tmp_path / "dump.sqlite")
    joined = db.execute("SELECT m.campaign, p.handle FROM campaign_posts AS m JOIN posts AS p USING (post_id)")
    assert campaigns_by_account([{"campaign": c, "handle": h} for c, h in joined]) == expected
    assert dict(db.execute("SELECT campaign, posts FROM campaigns").fetchall()) == {
        c["campaign"]: int(c["posts"]) for c in csv_rows(folder / "dump.campaign_summary.csv")}
    assert dict(db.execute("SELECT handle, campaigns FROM accounts").fetchall()) == {
        row["handle"]: row["campaigns"] for row in csv_rows(folder / "dump.accounts.csv")}


# ---------------------------------------------------------------- the report


def test_the_report_lists_campaigns_largest_first_with_their_differences(scored):
    folder, _, _ = scored
    soup = BeautifulSoup((folder / "dump.html").read_text(encoding="utf-8"), "html.parser")
    assert [a["href"] for a in soup.select("nav#sections a")].index("#campaigns") >= 0
    data = json.loads(soup.select_one("#campaigns script#campaign-data").string)
    summary = csv_rows(folder / "dump.campaign_summary.csv")
    rows = csv_rows(folder / "dump.campaigns.csv")
    assert [c["id"] for c in data["campaigns"]] == [c["campaign"] for c in summary]
    assert data["total"] == data["shown"] == len(summary)
    copypasta = [c for c in data["campaigns"] if c["kind"] == "copypasta"]
    assert [c["accounts"] for c in copypasta] == sorted((c["accounts"] for c in copypasta), reverse=True)
    for campaign in data["campaigns"]:
        texts = [r["text"] for r in rows if r["campaign"] == campaign["id"]]
        posts = [dict(zip(data["columns"], values)) for values in campaign["rows"]]
        assert campaign["key"] == posts[0]["id"]
        for post, text in zip(posts, texts):
            assert "".join(t for kind, t in post["pieces"] if kind != MISSING) == text
            assert post["pieces"] == [list(p) for p in diff_pieces(texts[0], text)]
        if campaign["kind"] == "copypasta":  # copies with edits; share-button posts are the same text
            assert any(kind == CHANGED for post in posts[1:] for kind, _ in post["pieces"])
    in_campaigns = {r["id"]: r["campaign"] for r in rows}
    assert data["segments"] == in_campaigns  # every campaign post is listed in this small report


def test_diff_pieces_mark_what_differs_from_the_first_post():
    first = "増税反対！みんなで拡散しよう🇯🇵 https://t.co/a"
    text = "増税反対!!みんなで拡散しよう🇺🇸 https://t.co/b"
    pieces = diff_pieces(first, text)
    assert "".join(t for kind, t in pieces if kind != MISSING) == text
    assert "".join(t for kind, t in pieces if kind != CHANGED) == first
    assert (CHANGED, "!!") in pieces and (MISSING, "！") in pieces
    assert diff_pieces(first, first) == [(SAME, first)]


def test_the_view_is_capped_and_says_what_it_left_out():
    from classifier.campaigns import CampaignFinder, PostRecord

    finder = CampaignFinder()
    texts = ["増税に反対する声をみんなで上げよう。今すぐ拡散してください", "駅前の再開発で商店街の灯が消えるのは見過ごせない",
             "ワクチンの副反応を隠しているのは誰なのか考えてみて", "円安で輸入品が高すぎる。政府は何をしているのか",
             "学校の部活改革は現場の声を聞いていない。撤回を求める"]
    finder.add(PostRecord(f"d:{n}:{k}", f"{n}{k}", f"A{k}", f"a{k}", "", "post", "post", text, 0.2, "partisan")
               for n, text in enumerate(texts) for k in range(4))
    result = finder.finish()
    assert len(result.campaigns) == 5
    view = campaign_view(result, ["d:0:0", "d:4:3", "other"], max_campaigns=2, posts_per_campaign=3)
    assert (view["total"], view["shown"], view["posts_left_out"]) == (5, 2, 2)
    assert [len(c["rows"]) for c in view["campaigns"]] == [3, 3]
    assert set(view["segments"]) == {"d:0:0", "d:4:3"}
    assert campaign_view(None) is None
