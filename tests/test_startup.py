"""``postcred score`` imports only what scoring uses: scikit-learn loads without pandas,
pyarrow and scipy.stats (see classifier/startup.py), and what it bound of them still
works when asked for."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "seeds" / "timeline_nhk_reuters_partisan_2024-11-04.txt"

SCORE_AND_LIST = """
import json, sys
from classifier.cli import cli
cli.main(["score", sys.argv[1], "-o", sys.argv[2], "-q"], standalone_mode=False)
print(json.dumps(sorted(m for m in ("pandas", "pyarrow", "scipy.stats", "sklearn") if m in sys.modules)))
"""


def test_score_runs_without_pandas_pyarrow_or_scipy_stats(tmp_path):
    out = subprocess.run([sys.executable, "-c", SCORE_AND_LIST, str(SEED), str(tmp_path / "seed.csv")],
                         capture_output=True, text=True, cwd=ROOT, check=True)
    assert json.loads(out.stdout.splitlines()[-1]) == ["sklearn"]
    with (tmp_path / "seed.csv").open(encoding="utf-8", newline="") as handle:
        assert len(list(csv.DictReader(handle))) == 43
    assert (tmp_path / "seed.html").exists()


DEFERRED_STILL_WORK = """
import json, sys
from classifier.startup import import_sklearn_lean
import_sklearn_lean()
from sklearn.metrics._ranking import rankdata  # bound to a deferred name while sklearn loaded
loaded_before = "scipy.stats" in sys.modules
ranks = rankdata([30, 10, 20]).tolist()
import pandas
print(json.dumps([loaded_before, ranks, "scipy.stats" in sys.modules, pandas.DataFrame({"a": [1]}).shape]))
"""


def test_what_was_deferred_loads_when_used():
    out = subprocess.run([sys.executable, "-c", DEFERRED_STILL_WORK], capture_output=True, text=True, cwd=ROOT,
                         check=True)
    assert json.loads(out.stdout.splitlines()[-1]) == [False, [3.0, 1.0, 2.0], True, [1, 1]]
