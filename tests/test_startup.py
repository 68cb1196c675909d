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
print(json.dumps(sorted(m for m in ("pandas", "pyarrow", "rich", "scipy.integrate", "scipy.interpolate", "scipy.optimize",
                                    "scipy.spatial", "scipy.special", "scipy.stats", "sklearn") if m in sys.modules)))
"""


def test_score_runs_without_pandas_pyarrow_or_scipy_stats(tmp_path):
    """Nor rich (no progress bar asked for), scipy.interpolate, scipy.optimize, scipy.integrate,
    scipy.special, scipy.spatial."""
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
DEFERRED = ("scipy.stats", "scipy.interpolate", "scipy.optimize", "scipy.integrate", "scipy.special", "scipy.spatial")
loaded_before = [name for name in DEFERRED if name in sys.modules]
ranks = rankdata([30, 10, 20]).tolist()
import numpy as np
from sklearn.linear_model import LogisticRegression  # lbfgs: scipy.optimize.minimize
from sklearn.metrics import auc  # scipy.integrate.trapezoid
from sklearn.preprocessing import SplineTransformer  # scipy.interpolate.BSpline
X = np.array([[0.0], [1.0], [2.0], [3.0]])
classifier = LogisticRegression().fit(X, [0, 0, 1, 1])
fitted = classifier.predict([[0.0], [3.0]]).tolist()
fitted.append(bool(classifier.predict_proba([[3.0]])[0, 1] > 0.5))  # scipy.special.expit
area = float(auc([0.0, 1.0], [1.0, 1.0]))
splines = SplineTransformer(n_knots=3, degree=1).fit_transform(X).shape
from sklearn.metrics.pairwise import pairwise_distances  # scipy.spatial.distance
splines = [*splines, float(pairwise_distances([[0.0, 0.0]], [[1.0, 1.0]], metric="braycurtis")[0, 0])]
import pandas
import rich.progress
print(json.dumps([loaded_before, ranks, fitted, area, list(splines),
                  [name for name in DEFERRED if name in sys.modules], pandas.DataFrame({"a": [1]}).shape]))
"""


def test_what_was_deferred_loads_when_used():
    out = subprocess.run([sys.executable, "-c", DEFERRED_STILL_WORK], capture_output=True, text=True, cwd=ROOT,
                         check=True)
    loaded_before, ranks, fitted, area, splines, loaded_after, frame = json.loads(out.stdout.splitlines()[-1])
    assert loaded_before == []
    assert (ranks, fitted, area, splines) == ([3.0, 1.0, 2.0], [0, 1, True], 1.0, [4, 3, 1.0])
    assert loaded_after == ["scipy.stats", "scipy.interpolate", "scipy.optimize", "scipy.integrate", "scipy.special",
                            "scipy.spatial"]
    assert frame == [1, 1]


COLLECTOR = """
import gc, json, sys
from classifier.cli import cli
for output in sys.argv[2:]:
    try:
        cli.main(["score", sys.argv[1], "-o", output, "-q"], standalone_mode=False)
    except Exception as exc:
        print(type(exc).__name__)
    print(json.dumps([gc.isenabled(), gc.get_freeze_count() > 0]))
"""


def test_the_collector_paused_for_start_up_runs_again_after(tmp_path):
    """Paused while the command starts, it runs again once the model is loaded, or when
    the command stops before that (here: the scores file exists, no --force)."""
    existing = tmp_path / "existing.csv"
    existing.write_text("keep\n", encoding="utf-8")
    out = subprocess.run([sys.executable, "-c", COLLECTOR, str(SEED), str(existing), str(tmp_path / "seed.csv")],
                         capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.split() == ["ClickException", "[true,", "true]", "[true,", "true]"]
    assert existing.read_text(encoding="utf-8") == "keep\n"


NUMPY_COPY_STILL_WHOLE = """
import json, sys
import numpy
names_before, star_before = sorted(dir(numpy)), list(numpy.__all__)
from classifier.startup import import_sklearn_lean
import_sklearn_lean()
loaded = sorted(m for m in ("numpy.f2py", "numpy.testing", "numpy.polynomial", "unittest") if m in sys.modules)
from scipy._lib.array_api_compat import numpy as copy
found = [copy.testing.__name__, copy.polynomial.__name__, hasattr(copy, "no_such_name")]
from scipy._lib import _array_api, _docscrape, _util
import scipy.linalg
restored = [_util.FunctionDoc is _docscrape.FunctionDoc, _array_api.FunctionDoc is _docscrape.FunctionDoc,
            scipy.linalg.solve([[2.0, 0.0], [0.0, 4.0]], [2.0, 2.0]).tolist()]
print(json.dumps([loaded, found, sorted(dir(numpy)) == names_before, numpy.__all__ == star_before, restored]))
"""


def test_scipy_loads_without_numpy_submodules_or_docstring_parsing_and_is_whole_after():
    """SciPy's copy of NumPy's namespace leaves out the submodules NumPy had not loaded,
    then hands them out when asked for; ``dir(numpy)`` and ``numpy.__all__`` are as before;
    SciPy's docstring parser is back in place."""
    out = subprocess.run([sys.executable, "-c", NUMPY_COPY_STILL_WHOLE], capture_output=True, text=True, cwd=ROOT,
                         check=True)
    loaded, found, same_dir, same_all, restored = json.loads(out.stdout.splitlines()[-1])
    assert loaded == []
    assert found == ["numpy.testing", "numpy.polynomial", False]
    assert same_dir and same_all
    assert restored == [True, True, [1.0, 0.5]]  # SciPy parses docstrings again, and its functions work


UNEXPECTED_DOCSTRING_USE = """
import json, sys
from classifier import startup

class Refusing(startup._UnparsedDoc):
    def __str__(self):
        raise AttributeError("a parser method this stand-in lacks")

startup._UnparsedDoc = Refusing
startup.import_sklearn_lean()
import scipy.linalg
from scipy._lib import _docscrape, _util
print(json.dumps(["sklearn.linear_model" in sys.modules, _util.FunctionDoc is _docscrape.FunctionDoc,
                  '"core" shape' in (scipy.linalg.solve_triangular.__doc__ or "")]))  # SciPy's note on batched arrays
"""


def test_a_scipy_that_wants_more_of_its_docstring_parser_loads_as_it_is():
    """Should SciPy's decorators use their docstring parser in a way the stand-in does not
    support, scikit-learn and SciPy load again with the real parser: scoring still starts."""
    out = subprocess.run([sys.executable, "-c", UNEXPECTED_DOCSTRING_USE], capture_output=True, text=True, cwd=ROOT,
                         check=True)
    loaded, restored, parsed = json.loads(out.stdout.splitlines()[-1])
    assert loaded and restored and parsed
