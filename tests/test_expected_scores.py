"""The scores files of fixed dumps equal the checked-in expected files, byte for byte, so
that any drift in what postcred writes shows up (see ``tests/data/expected/README.md``
for how to regenerate them when a change is meant to alter the scores)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from classifier.cli import cli

ROOT = Path(__file__).resolve().parents[1]
EXPECTED = Path(__file__).resolve().parent / "data" / "expected"
SEED = ROOT / "seeds" / "timeline_nhk_reuters_partisan_2024-11-04.txt"


@pytest.mark.parametrize("dump, options, expected", [
    (SEED, [], "seed.scores.csv"),
    (SEED, [], "seed.scores.jsonl"),
    (EXPECTED / "probes.txt", ["--input-format", "lines"], "probes.scores.csv"),
])
def test_scores_file_equals_the_expected_file(tmp_path, dump, options, expected):
    out = tmp_path / expected
    result = CliRunner().invoke(cli, ["score", str(dump), *options, "-o", str(out), "--no-report", "-q"])
    assert result.exit_code == 0, result.output
    got_bytes, want_bytes = out.read_bytes(), (EXPECTED / expected).read_bytes()
    if got_bytes != want_bytes:
        got, want = got_bytes.splitlines(keepends=True), want_bytes.splitlines(keepends=True)
        k = next((k for k, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
        shown = lambda lines: lines[k][:300].decode("utf-8", "replace") if k < len(lines) else "(end of file)"  # noqa: E731
        pytest.fail(f"{expected} differs from the expected file at line {k + 1}:\n"
                    f"got:  {shown(got)}\nwant: {shown(want)}")
