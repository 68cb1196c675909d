"""`postcred train` and `postcred evaluate` on small label sets built in tmp_path."""

from __future__ import annotations

import json
import sys

import pytest
from bs4 import BeautifulSoup
from click.testing import CliRunner

from classifier import training
from classifier.cli import cli
from classifier.errors import RegressionError
from classifier.model import DEFAULT_PARAMS
from classifier.training import better_trial, start_params, train

WIRE = [
    "{place}の当局は{n}日、新たな対策を発表した。",
    "{place}政府の報道官は記者会見で「状況を注視している」と述べた。",
    "関係者によりますと、{place}では{n}日午後、会合が開かれました。",
    "{place}の警察は{n}日、男を逮捕したと明らかにした。調べに対し容疑を認めているという。",
]
PARTISAN = [
    "{place}の連中、また嘘ばっかり！絶対に許すな🔥拡散希望",
    "マスゴミは{place}の本当のことを報じない。みんな目を覚ませ！",
    "{place}の売国政権はもう終わり。黒幕はわかってるだろ？",
    "どう考えても{place}の裏には利権がある。騙されるな、これは偽旗だ！",
]
TOPICS = {"alpha": "東京", "beta": "大阪", "gamma": "札幌"}


def write_labels(folder, extra_rows=()):
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for topic, place in TOPICS.items():
        for n in range(1, 4):
            for k, template in enumerate(WIRE):
                rows.append({"text": template.format(place=place, n=n + 10 * k), "label": "wire", "topic": topic,
                             "source": f"wire_{k % 2}"})
            for k, template in enumerate(PARTISAN):
                rows.append({"text": template.format(place=place) + "!" * n, "label": "partisan", "topic": topic,
                             "source": f"partisan_{k % 2}", "hard": k == 0})
    rows.extend(extra_rows)
    (folder / "written.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    return rows


@pytest.fixture
def small_space(monkeypatch):
    monkeypatch.setattr(training, "SEARCH_SPACE", {"C": [1.0, 4.0], "ngram_max": [1, 2]})


@pytest.fixture
def lean(monkeypatch, small_space):
    """For tests about something else: skip the learning curve and the marker comparison."""
    monkeypatch.setattr(training, "LEARNING_FRACTIONS", (1.0,))
    monkeypatch.setattr(training, "COMPARE_MARKERS", False)


def test_train_reports_every_cv_kind_and_writes_the_card(tmp_path, small_space):
    labels = tmp_path / "labels"
    write_labels(labels)
    result = train(labels, tmp_path / "model", card_dir=tmp_path / "card")
    meta = result.metadata
    assert {"stratified", "topic_out", "source_out"} <= set(meta["cv"])
    assert [r["fraction"] for r in meta["learning_curve"]] == [0.25, 0.5, 0.75, 1.0]
    assert meta["search"] and all("macro_f1" in t for t in meta["search"])
    assert meta["data"]["by_label"] == {"partisan": 36, "wire": 36}
    assert meta["data"]["hard"] == 9
    assert meta["top_features"]["wire"] and meta["top_features"]["partisan"]
    soup = BeautifulSoup((tmp_path / "card" / "model-card.html").read_text(encoding="utf-8"), "html.parser")
    assert {tr["data-cv"] for tr in soup.select("#cv tr[data-cv]")} >= {"stratified", "topic_out", "source_out"}
    assert soup.find("svg") is not None  # learning curve and reliability diagram are inline
    assert "default-src 'none'" in soup.find("meta", attrs={"http-equiv": "Content-Security-Policy"})["content"]
    markdown = (tmp_path / "card" / "model-card.md").read_text(encoding="utf-8")
    assert "leave-one-topic-out" in markdown and "## Learning curve" in markdown


def test_suspect_labels_find_a_flipped_label(tmp_path, lean):
    labels = tmp_path / "labels"
    flipped = {"text": "札幌の連中、また嘘ばっかり！絶対に許すな🔥拡散希望！！！！", "label": "wire", "topic": "gamma", "source": "wire_0"}
    write_labels(labels, [flipped])
    meta = train(labels, tmp_path / "model", search=False, card_dir=None).metadata
    assert flipped["text"] in [s["text"] for s in meta["suspect_labels"][:3]]


def test_real_texts_are_held_out_when_present(tmp_path, lean):
    labels = tmp_path / "labels"
    write_labels(labels)
    seed = [
        {"text": "那覇市は5日、新しい条例を施行したと発表した。", "label": "wire", "topic": "alpha", "source": "wire_0"},
        {"text": "那覇の役人どもは全員クビにしろ！拡散希望", "label": "partisan", "topic": "beta", "source": "partisan_0"},
    ]
    (labels / "seed.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in seed), encoding="utf-8")
    meta = train(labels, tmp_path / "model", card_dir=None).metadata
    assert meta["cv"]["real_out"]["n"] == 2
    assert all("real_log_loss" in t for t in meta["search"])


def test_refuses_a_worse_model_unless_accepted(tmp_path, lean):
    labels = tmp_path / "labels"
    write_labels(labels)
    model_dir = tmp_path / "model"
    meta = train(labels, model_dir, search=False, card_dir=None).metadata
    saved = json.loads((model_dir / "postcred.json").read_text())
    saved["cv"]["topic_out"]["macro_f1"] = 1.5  # pretend the saved model was far better
    (model_dir / "postcred.json").write_text(json.dumps(saved))
    with pytest.raises(RegressionError, match="--accept-worse"):
        train(labels, model_dir, force=True, search=False, card_dir=None)
    result = CliRunner().invoke(cli, ["train", "--labels", str(labels), "--model-dir", str(model_dir), "--force",
                                      "--no-search", "--card-dir", str(tmp_path / "c")])
    assert result.exit_code == 1 and "Error: the new model's leave-one-topic-out macro-F1" in result.output
    accepted = train(labels, model_dir, force=True, search=False, accept_worse=True, card_dir=None)
    assert not accepted.skipped and accepted.metadata["labels_digest"] == meta["labels_digest"]


@pytest.mark.parametrize(
    "candidate, best, expected",
    [
        ({"macro_f1": 0.95}, {"macro_f1": 0.90}, True),
        ({"macro_f1": 0.90}, {"macro_f1": 0.95}, False),
        ({"macro_f1": 0.954, "real_log_loss": 0.1, "ece": 0.05}, {"macro_f1": 0.955, "real_log_loss": 0.2, "ece": 0.01}, True),
        ({"macro_f1": 0.954, "ece": 0.02, "log_loss": 0.1}, {"macro_f1": 0.955, "ece": 0.01, "log_loss": 0.3}, False),
        ({"macro_f1": 0.951, "real_log_loss": 0.1}, {"macro_f1": 0.955, "real_log_loss": 0.2}, False),
        # topic-out and source-out count alike: a setting that carries over to unseen sources wins
        ({"macro_f1": 0.980, "source_macro_f1": 0.930}, {"macro_f1": 0.985, "source_macro_f1": 0.915}, True),
        ({"macro_f1": 0.970, "source_macro_f1": 0.930}, {"macro_f1": 0.985, "source_macro_f1": 0.925}, False),
    ],
)
def test_search_order_of_criteria(candidate, best, expected):
    assert better_trial(candidate, best) is expected


def test_tie_breaks_cannot_walk_the_search_downhill():
    """Each step 0.0015 worse but with a lower real-text log loss: the first is a tie, the
    second falls more than one band below the best score reached, and loses."""
    top = {"macro_f1": 0.9600, "real_log_loss": 0.30}
    step1 = {"macro_f1": 0.9585, "real_log_loss": 0.20}
    step2 = {"macro_f1": 0.9570, "real_log_loss": 0.10}
    assert better_trial(step1, top, top=0.96)
    assert not better_trial(step2, step1, top=0.96)


def test_evaluate_prints_every_figure(tmp_path, lean):
    labels = tmp_path / "labels"
    write_labels(labels)
    model_dir = tmp_path / "model"
    train(labels, model_dir, search=False, card_dir=None)
    held = tmp_path / "held.jsonl"
    held.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in [
        {"text": "福岡県は3日、新たな対策を発表した。", "label": "wire", "topic": "x", "source": "s"},
        {"text": "福岡の売国政権はもう終わり。黒幕はわかってるだろ？", "label": "partisan", "topic": "x", "source": "s"},
        {"text": "福岡の警察は男を逮捕したと明らかにした。", "label": "partisan", "topic": "x", "source": "s"},
    ]), encoding="utf-8")
    result = CliRunner().invoke(cli, ["evaluate", str(held), "--model", str(model_dir), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    for key in ("accuracy", "macro_f1", "per_class", "confusion", "log_loss", "brier", "ece"):
        assert key in report["metrics"]
    assert report["metrics"]["n"] == 3
    assert report["worst_errors"][0]["text"] == "福岡の警察は男を逮捕したと明らかにした。"
    text = CliRunner().invoke(cli, ["evaluate", str(held), "--model", str(model_dir)])
    assert text.exit_code == 0 and "confusion" in text.output and "ECE" in text.output
    missing = CliRunner().invoke(cli, ["evaluate", str(tmp_path / "none.jsonl"), "--model", str(model_dir)])
    assert missing.exit_code == 1 and missing.output.startswith("Error: ")


def test_training_starts_from_the_saved_models_hyper_parameters():
    """A retrain starts where the last one ended: --no-search keeps the saved setting, a
    search starts from it, a value the search space no longer holds falls back to the
    default, and parameters given explicitly win."""
    saved = {"params": {**DEFAULT_PARAMS, "C": 16.0, "min_df": 1, "proper_nouns": "keep"}}
    kept = start_params(saved, None, search=False)
    assert (kept["C"], kept["min_df"], kept["proper_nouns"]) == (16.0, 1, "keep")
    searched = start_params(saved, None, search=True)
    assert (searched["C"], searched["min_df"]) == (16.0, 1)
    assert searched["proper_nouns"] == DEFAULT_PARAMS["proper_nouns"] == "class"
    assert start_params(saved, {"C": 2.0}, search=True)["C"] == 2.0
    assert start_params({}, None, search=True) == DEFAULT_PARAMS


def test_a_retrain_without_search_keeps_the_saved_setting(tmp_path, lean):
    labels = tmp_path / "labels"
    write_labels(labels)
    model_dir = tmp_path / "model"
    train(labels, model_dir, search=False, params={"C": 8.0}, card_dir=None)
    again = train(labels, model_dir, force=True, search=False, card_dir=None).metadata
    assert again["params"]["C"] == 8.0


def _snapshot(*folders):
    """Every file under the folders (temporary files included) with its bytes."""
    return {p: p.read_bytes() for folder in folders if folder.exists() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("missing", ["matplotlib", "cleanlab"])
def test_a_retrain_without_the_train_extra_changes_nothing_and_says_what_to_install(tmp_path, lean, monkeypatch, missing):
    labels, model_dir, card_dir = tmp_path / "labels", tmp_path / "model", tmp_path / "card"
    write_labels(labels)
    train(labels, model_dir, search=False, card_dir=card_dir)
    before = _snapshot(model_dir, card_dir)
    monkeypatch.setitem(sys.modules, missing, None)  # `import missing` now raises ImportError
    result = CliRunner().invoke(cli, ["train", "--labels", str(labels), "--model-dir", str(model_dir), "--force",
                                      "--card-dir", str(card_dir)])
    assert result.exit_code == 1, result.output
    assert result.output.startswith("Error: ") and "pip install -e '.[train]'" in result.output
    assert missing in result.output and "nothing was changed" in result.output
    assert _snapshot(model_dir, card_dir) == before
    fresh = CliRunner().invoke(cli, ["train", "--labels", str(labels), "--model-dir", str(tmp_path / "new"),
                                     "--card-dir", str(tmp_path / "new-card")])
    assert fresh.exit_code == 1 and not (tmp_path / "new").exists() and not (tmp_path / "new-card").exists()


def test_model_and_card_are_written_together_or_not_at_all(tmp_path, lean, monkeypatch):
    labels, model_dir, card_dir = tmp_path / "labels", tmp_path / "model", tmp_path / "card"
    write_labels(labels)
    train(labels, model_dir, search=False, card_dir=card_dir)
    before = _snapshot(model_dir, card_dir)

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(training, "save_model", disk_full)
    with pytest.raises(OSError):
        train(labels, model_dir, force=True, search=False, card_dir=card_dir)
    assert _snapshot(model_dir, card_dir) == before  # the new card was not put beside the old model
    monkeypatch.undo()
    meta = train(labels, model_dir, force=True, search=False, card_dir=card_dir).metadata
    card = (card_dir / "model-card.md").read_text(encoding="utf-8")
    assert meta["created"] in card and json.loads((model_dir / "postcred.json").read_text())["created"] == meta["created"]


def test_a_retrain_without_search_says_so_and_keeps_the_search_record(tmp_path, lean):
    labels, model_dir, card_dir = tmp_path / "labels", tmp_path / "model", tmp_path / "card"
    write_labels(labels)
    searched = train(labels, model_dir, card_dir=card_dir).metadata
    assert searched["search_info"]["ran"] and searched["search_info"]["settings"] == len(searched["search"]) >= 3
    assert all({"macro_f1", "source_macro_f1", "score", "seconds"} <= set(t) for t in searched["search"])
    kept = train(labels, model_dir, force=True, search=False, card_dir=card_dir).metadata
    assert kept["params"] == searched["params"]
    assert kept["search"] == searched["search"]
    assert not kept["search_info"]["ran"] and "--no-search" in kept["search_info"]["reason"]
    assert kept["search_info"]["date"] == searched["search_info"]["date"]
    markdown = (card_dir / "model-card.md").read_text(encoding="utf-8")
    assert "not searched in this run" in markdown and "(0 settings" not in markdown
    assert f"## Hyper-parameter search ({len(searched['search'])} settings" in markdown
    soup = BeautifulSoup((card_dir / "model-card.html").read_text(encoding="utf-8"), "html.parser")
    assert soup.select_one("#search-kept") is not None
    assert len(soup.select("#search tr")) == len(searched["search"]) + 1
