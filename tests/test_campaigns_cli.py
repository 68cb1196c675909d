"""``postcred campaigns`` as a user runs it: a dump scored, then campaigns found in its
scores file (CSV and JSONL), the network read back with networkx, reruns, bad input."""

from __future__ import annotations

import hashlib
import json

import networkx as nx
import pytest
from click.testing import CliRunner

from classifier.cli import cli
from tests.synthetic_campaigns import DumpGenerator, write_snscrape

from .conftest import csv_rows

FILES = ("dump.campaigns.csv", "dump.campaign_summary.csv", "coordination.gexf", "coordination_edges.csv",
         "manifest.json")


ROW = ('{"id": "d:1", "post_id": "1", "account": "a", "handle": "a", "date": "", "role": "post", '
       '"text": "増税反対の声を上げよう、みんなで拡散しよう", "p_wire": 0.1}')
HEADER = "id,post_id,account,handle,date,role,text,p_wire\n"


def run(*args):
    return CliRunner().invoke(cli, list(map(str, args)))


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    """A generated dump (organic posts, three planted campaigns sharing some accounts,
    share-button posts) scored to CSV and JSONL."""
    folder = tmp_path_factory.mktemp("campaigns")
    posts = DumpGenerator(seed=4).dump(organic=250, campaigns=3, accounts=(6, 10), share_button=12, puppets=14)
    dump = write_snscrape(posts, folder / "dump.jsonl")
    for fmt in ("csv", "jsonl"):
        once = ["--no-campaigns"] if fmt == "jsonl" else []  # the campaign files go beside the CSV's
        result = run("score", dump, "-o", folder / f"dump.scores.{fmt}", "--no-report", "--no-accounts", "-q", *once)
        assert result.exit_code == 0, result.output
    return folder, posts


def test_campaigns_from_a_scores_file(scored, tmp_path):
    folder, posts = scored
    scores = folder / "dump.scores.csv"
    result = run("campaigns", scores, "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(FILES)
    rows = csv_rows(tmp_path / "out" / "dump.campaigns.csv")
    summary = csv_rows(tmp_path / "out" / "dump.campaign_summary.csv")
    assert {"campaign", "post_id", "handle", "date", "similarity", "p_wire", "text"} <= set(rows[0])
    assert {"campaign", "posts", "accounts", "first", "last", "median_p_wire", "top_techniques", "fast_pairs",
            "kind"} <= set(summary[0])
    group = {p.post_id: p.group for p in posts}
    planted = {c["campaign"] for c in summary if c["kind"] == "copypasta"}
    for name in planted:
        members = [r for r in rows if r["campaign"] == name]
        assert {group[r["post_id"]] for r in members} == {group[members[0]["post_id"]]}
        assert group[members[0]["post_id"]].startswith("campaign:")
        assert members[0]["similarity"] == "1.0"
    assert len(planted) == 3
    assert sum(int(c["posts"]) for c in summary) == len(rows)
    assert f"campaigns {len(summary)} (copypasta 3, share templates {len(summary) - 3})" in result.output
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["input"]["sha256"] == hashlib.sha256(scores.read_bytes()).hexdigest()
    assert manifest["parameters"]["threshold"] == 0.6 and manifest["time_resolution"] == "seconds"
    assert manifest["versions"]["postcred"]


def test_the_gexf_opens_with_networkx_and_matches_the_edges_csv(scored, tmp_path):
    folder, _ = scored
    assert run("campaigns", folder / "dump.scores.csv", "-o", tmp_path).exit_code == 0
    graph = nx.read_gexf(tmp_path / "coordination.gexf")
    edges = csv_rows(tmp_path / "coordination_edges.csv")
    assert graph.number_of_edges() == len(edges) > 0
    for edge in edges:
        data = graph.edges[edge["source"], edge["target"]]
        assert float(data["weight"]) == float(edge["weight"])
        assert (data["first"], data["last"], data["campaigns"]) == (edge["first"], edge["last"], edge["campaigns"])
    # the planted campaigns drew from 14 accounts: some pairs share more than one campaign
    assert max(float(w) for _, _, w in graph.edges(data="weight")) >= 2
    assert all(name.startswith("puppet_") for name in graph.nodes), "share templates stay out of the network"
    assert graph.nodes[edges[0]["source"]]["campaigns"] >= 1


def test_jsonl_and_csv_scores_give_the_same_campaigns(scored, tmp_path):
    folder, _ = scored
    for fmt in ("csv", "jsonl"):
        assert run("campaigns", folder / f"dump.scores.{fmt}", "-o", tmp_path / fmt).exit_code == 0
    assert (tmp_path / "csv" / "dump.campaigns.csv").read_text() == (tmp_path / "jsonl" / "dump.campaigns.csv").read_text()
    assert (tmp_path / "csv" / "coordination.gexf").read_bytes() == (tmp_path / "jsonl" / "coordination.gexf").read_bytes()


def test_rerun_with_other_parameters_needs_force(scored, tmp_path):
    folder, _ = scored
    scores = folder / "dump.scores.csv"
    assert run("campaigns", scores, "-o", tmp_path).exit_code == 0
    again = run("campaigns", scores, "-o", tmp_path, "--min-accounts", "20")
    assert again.exit_code == 1
    assert again.output.strip().splitlines()[-1] == f"Error: {tmp_path / FILES[0]}: already exists; use --force to replace it"
    forced = run("campaigns", scores, "-o", tmp_path, "--min-accounts", "20", "--force")
    assert forced.exit_code == 0, forced.output
    assert csv_rows(tmp_path / "dump.campaign_summary.csv") == []
    assert json.loads((tmp_path / "manifest.json").read_text())["parameters"]["min_accounts"] == 20


def test_help_shows_every_threshold_with_its_default():
    result = run("campaigns", "--help")
    assert result.exit_code == 0
    flat = " ".join(result.output.split("Options:", 1)[1].split())
    for option, default in [("--threshold", "0.6"), ("--min-chars", "20"), ("--min-accounts", "2"),
                            ("--fast-seconds", "60"), ("--num-perm", "128"), ("--bands", "25"), ("--window", "64"),
                            ("--share-p-wire", "0.6"), ("--network-max-accounts", "1000")]:
        assert option in flat
        assert f"[default: {default}" in flat.split(option, 1)[1].split("--", 1)[0], option
    assert "Example:" in result.output


def test_clashing_options_are_a_usage_error(scored, tmp_path):
    folder, _ = scored
    result = run("campaigns", folder / "dump.scores.csv", "-o", tmp_path, "--num-perm", "8", "--bands", "9")
    assert result.exit_code == 2
    assert "bands (9) cannot exceed num_perm (8)" in result.output


@pytest.mark.parametrize("content, name, message", [
    ("id,text\n1,hello\n", "s.csv",
     "line 1: not a postcred scores file: missing columns post_id, account, handle, date, role, p_wire"),
    (f'{ROW}\nnot json\n', "s.jsonl", "line 2: not valid JSON"),
    (ROW.replace('"date": ""', '"date": "soon"'), "s.jsonl", "line 1: date 'soon' is not an ISO 8601 date or time"),
    (HEADER + "d:1,1,a,a,,post,abc,high\n", "s.csv", "line 2: p_wire is not a number: 'high'"),
    (HEADER + "d:1,1,a,a,,post,abc,0.5\n", "s.scores", "cannot tell the scores format from the extension"),
])
def test_bad_scores_files_are_one_line_errors(tmp_path, content, name, message):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    result = run("campaigns", path, "-o", tmp_path / "out")
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: {path}") and message in result.output
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_a_failed_write_leaves_no_output(scored, tmp_path, monkeypatch):
    import classifier.outputs

    folder, _ = scored
    real = classifier.outputs.OutputSet.open
    written = []

    def failing(self, path, *args, **kwargs):
        written.append(path)
        if len(written) == 3:
            raise OSError("disk full")
        return real(self, path, *args, **kwargs)

    monkeypatch.setattr(classifier.outputs.OutputSet, "open", failing)
    result = run("campaigns", folder / "dump.scores.csv", "-o", tmp_path)
    assert result.exit_code == 1 and "disk full" in result.output
    assert len(written) == 3 and list(tmp_path.iterdir()) == []


def test_the_readme_example_runs(tmp_path, monkeypatch):
    import re
    import shlex
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    section = (root / "README.md").read_text(encoding="utf-8").split("## Campaigns", 1)[1].split("\n## ", 1)[0]
    commands = [line for block in re.findall(r"```bash\n(.*?)```", section, flags=re.S) for line in block.splitlines()]
    assert [shlex.split(c)[1] for c in commands] == ["score", "campaigns"]
    monkeypatch.chdir(root)
    for command in commands:
        args = [str(tmp_path / Path(a).name) if a.startswith("reports/") else a for a in shlex.split(command)[1:]]
        result = run(*args)
        assert result.exit_code == 0, result.output
    summary = csv_rows(tmp_path / "sample-campaigns" / "sample.campaign_summary.csv")
    assert [c["kind"] for c in summary] == ["copypasta", "copypasta", "share_template"]
    assert [c["posts"] for c in summary[:2]] == ["8", "8"]


def test_a_dask_output_folder_gives_the_same_campaigns(scored, tmp_path):
    folder, _ = scored
    lines = (folder / "dump.scores.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    parts = tmp_path / "dump.scores"
    parts.mkdir()
    third = len(lines) // 3
    for n, chunk in enumerate((lines[:third], lines[third:2 * third], lines[2 * third:])):
        (parts / f"part-{n:05d}.jsonl").write_text("".join(chunk), encoding="utf-8")
    assert run("campaigns", parts, "-o", tmp_path / "from-parts").exit_code == 0
    assert run("campaigns", folder / "dump.scores.jsonl", "-o", tmp_path / "from-file").exit_code == 0
    assert (tmp_path / "from-parts" / "dump.campaigns.csv").read_text() == \
        (tmp_path / "from-file" / "dump.campaigns.csv").read_text()
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run("campaigns", empty, "-o", tmp_path / "x")
    assert result.exit_code == 1 and "a folder without part-* scores files" in result.output
