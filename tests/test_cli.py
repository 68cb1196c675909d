"""The CLI as a user runs it: real files in tmp_path, exit codes, one-line errors."""

from __future__ import annotations

import json
import shutil

from bs4 import BeautifulSoup
from click.testing import CliRunner

from classifier.cli import cli

from .conftest import csv_rows


def run(*args):
    result = CliRunner().invoke(cli, list(map(str, args)))
    return result


def test_score_writes_csv_and_report(tmp_path, seed_path):
    out = tmp_path / "seed.csv"
    result = run("score", seed_path, "-o", out)
    assert result.exit_code == 0, result.output
    rows = csv_rows(out)
    assert len(rows) == 43
    assert {"id", "account", "handle", "role", "text", "p_wire", "label", "top_tokens", "urls", "hashtags"} <= set(rows[0])
    report = tmp_path / "seed.html"
    assert report.exists()
    soup = BeautifulSoup(report.read_text(encoding="utf-8"), "html.parser")
    csp = soup.find("meta", attrs={"http-equiv": "Content-Security-Policy"})
    assert csp and "default-src 'none'" in csp["content"]
    assert "records read 9, scored 9, rejected 0; segments 43" in result.output


def test_score_jsonl_by_extension_and_report_path(tmp_path, seed_path):
    out = tmp_path / "scores.jsonl"
    report = tmp_path / "elsewhere" / "r.html"
    result = run("score", seed_path, "-o", out, "--report", report)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 43 and isinstance(rows[0]["urls"], list)
    assert report.exists()


def test_format_option_overrides_extension_and_no_report(tmp_path, seed_path):
    out = tmp_path / "scores.txt"
    result = run("score", seed_path, "-o", out, "--format", "jsonl", "--no-report")
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text(encoding="utf-8").splitlines()[0])["line"] == 1
    assert not list(tmp_path.glob("*.html"))


def test_existing_output_needs_force(tmp_path, seed_path):
    out = tmp_path / "s.csv"
    assert run("score", seed_path, "-o", out).exit_code == 0
    again = run("score", seed_path, "-o", out)
    assert again.exit_code == 1
    assert again.output.strip().splitlines()[-1] == f"Error: {out}: already exists; use --force to replace it"
    assert run("score", seed_path, "-o", out, "--force").exit_code == 0


def test_refuses_to_overwrite_the_input(tmp_path, seed_path):
    dump = tmp_path / "dump.csv"
    shutil.copy(seed_path, dump)
    result = run("score", dump, "-o", dump, "--input-format", "timeline", "--force")
    assert result.exit_code == 1
    assert "refusing to overwrite the input file" in result.output
    assert "Traceback" not in result.output


def test_missing_dump_is_one_line_error(tmp_path):
    result = run("score", tmp_path / "nope.txt", "-o", tmp_path / "x.csv")
    assert result.exit_code == 1
    assert result.output.strip() == f"Error: {tmp_path / 'nope.txt'}: no such file"


def test_missing_model_is_one_line_error(tmp_path, seed_path):
    result = run("score", seed_path, "-o", tmp_path / "x.csv", "--model", tmp_path)
    assert result.exit_code == 1
    assert "model file not found; run `postcred train`" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_train_to_a_folder_then_skip_when_labels_unchanged(tmp_path):
    labels = tmp_path / "labels"
    labels.mkdir()
    rows = [
        {"text": f"政府は{i}日、新たな方針を発表したと明らかにした。", "label": "wire", "topic": "t", "source": "s"}
        for i in range(1, 9)
    ] + [
        {"text": f"こんな政府{i}回目の裏切り、絶対に許すな！拡散希望🔥", "label": "partisan", "topic": "t", "source": "s"}
        for i in range(1, 9)
    ]
    (labels / "a.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    model_dir = tmp_path / "model"
    first = run("train", "--labels", labels, "--model-dir", model_dir, "--folds", 2, "--card-dir", tmp_path / "card")
    assert first.exit_code == 0, first.output
    assert "macro-F1" in first.output and "log loss" in first.output
    assert (model_dir / "postcred.joblib").exists()
    meta = json.loads((model_dir / "postcred.json").read_text())
    assert meta["class_counts"] == {"partisan": 8, "wire": 8}
    assert (tmp_path / "card" / "model-card.html").exists()
    second = run("train", "--labels", labels, "--model-dir", model_dir)
    assert second.exit_code == 0 and "nothing to do" in second.output
    scored = run("score", tmp_path / "d.txt", "-o", tmp_path / "d.csv", "--model", model_dir)
    assert scored.exit_code == 1  # no such dump: still a clean error with a custom model


def test_bad_label_is_one_line_error(tmp_path):
    labels = tmp_path / "labels"
    labels.mkdir()
    (labels / "a.jsonl").write_text('{"text": "x", "label": "wire", "topic": "t", "source": "s"}\n'
                                    '{"text": "y", "label": "neutral", "topic": "t", "source": "s"}\n', encoding="utf-8")
    result = run("train", "--labels", labels, "--model-dir", tmp_path / "m", "--card-dir", tmp_path / "card")
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"Error: {labels / 'a.jsonl'}, line 2: unknown label 'neutral'; expected one of partisan, wire"
    )
