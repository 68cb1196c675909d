"""Start-up of ``postcred score``: import scikit-learn without what scoring never uses,
and keep the garbage collector out of the way until the model is loaded.

Importing scikit-learn imports pandas (``sklearn.utils.fixes`` does, when pandas is
installed, and pandas imports pyarrow), rich (for a progress bar of its own) and
scipy.stats, scipy.optimize, scipy.integrate, scipy.interpolate, scipy.special, scipy.linalg
and scipy.spatial (modules on the way to ``LogisticRegression`` bind ``rankdata``,
``minimize``, ``trapezoid``, ``BSpline``, ``lsqr``'s helpers, ``distance`` or the module itself
when they load; scipy.special parses hundreds of docstrings as it loads), for functions
scoring never calls: about half of the command's start-up.  :func:`import_sklearn_lean` imports the scikit-learn modules a saved
model is made of with pandas and rich reported missing (scikit-learn supports that: its
helpers for them are then unused) and the SciPy modules stood in for by modules whose
names load the real module when they are first used.  SciPy's copy of NumPy's namespace
is made without the NumPy submodules not loaded yet (``numpy.f2py``, ``numpy.testing``...),
which it hands out when first asked for, and SciPy's decorators leave the docstrings of
``scipy.linalg`` unparsed.  Afterwards all of them import as usual: nothing is lost, only
deferred.

Only the score command calls it, before anything imports scikit-learn; a library user's
process imports scikit-learn the usual way.  The same command pauses the collector for
its start-up (:func:`pause_collector`, :func:`settle_collector`).
"""

from __future__ import annotations

import gc
import importlib
import importlib.util
import sys
import types

#: The scikit-learn modules a saved postcred model is made of (see classifier.model).
SKLEARN_MODULES = ("sklearn.base", "sklearn.pipeline", "sklearn.feature_extraction.text", "sklearn.linear_model")
#: Imported by scikit-learn when it loads, used by none of the code scoring runs:
#: optional for scikit-learn (reported missing), or needed (stood in for, loaded when used).
MISSING = ("pandas", "rich")
DEFERRED = ("scipy.stats", "scipy.interpolate", "scipy.optimize", "scipy.integrate", "scipy.special",
            "scipy.spatial")


class _DeferredModule(types.ModuleType):
    """Stands in for a module while scikit-learn loads: each name asked of it is a
    :class:`_DeferredName`, which loads the real module when it is first used."""

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return _DeferredName(self.__name__, name)


class _DeferredName:
    """A name of a module not loaded yet: calling it, or asking it for an attribute,
    loads the module and does the same with the real object."""

    __slots__ = ("_module", "_name")

    def __init__(self, module: str, name: str) -> None:
        self._module = module
        self._name = name

    def _resolve(self):
        return getattr(importlib.import_module(self._module), self._name)

    def __call__(self, *args, **kwargs):
        return self._resolve()(*args, **kwargs)

    def __getattr__(self, attribute: str):
        return getattr(self._resolve(), attribute)

    def __repr__(self) -> str:
        return f"<deferred {self._module}.{self._name}>"


def _deferred_module(name: str) -> _DeferredModule:
    """A stand-in for the package ``name``; its submodules, when scikit-learn imports one
    by its full name, load on their own (the package's ``__init__`` stays unrun)."""
    module = _DeferredModule(name)
    spec = importlib.util.find_spec(name)
    if spec is not None and spec.submodule_search_locations is not None:
        module.__path__ = list(spec.submodule_search_locations)
    return module


def import_sklearn_lean() -> None:
    """Import :data:`SKLEARN_MODULES` without loading :data:`MISSING` and :data:`DEFERRED`
    (nothing happens when scikit-learn is already imported)."""
    if "sklearn" in sys.modules:
        return
    missing = [name for name in MISSING if name not in sys.modules]
    deferred = [name for name in DEFERRED if name not in sys.modules]
    numpy_dir = _hide_numpy_submodules()
    docs = None
    try:
        for name in missing:
            sys.modules[name] = None  # `import pandas` raises ImportError
        for name in deferred:
            sys.modules[name] = _deferred_module(name)
        docs = _skip_docstring_rewrites()
        try:
            _import_all(SKLEARN_MODULES)
        except Exception:
            if docs is None:
                raise
            # A SciPy whose decorators want more of their docstring parser than the stand-in
            # gives: its modules load again as they are (those that failed were unloaded).
            _restore_docstring_rewrites(docs)
            docs = None
            _import_all(SKLEARN_MODULES)
    finally:
        _restore_docstring_rewrites(docs)
        _show_numpy_submodules(numpy_dir)
        for name in missing:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]
        for name in deferred:
            if isinstance(sys.modules.get(name), _DeferredModule):
                del sys.modules[name]


def _import_all(names: tuple[str, ...]) -> None:
    for name in names:
        importlib.import_module(name)


#: SciPy's copy of NumPy's namespace (array API compatibility), made as SciPy loads.
NUMPY_COPY = "scipy._lib.array_api_compat.numpy"


def _hide_numpy_submodules():
    """Leave NumPy's submodules not loaded yet out of ``dir(numpy)`` while scikit-learn
    loads, and return what to restore (None: nothing was changed).

    SciPy copies NumPy's namespace as it loads (:data:`NUMPY_COPY`), asking NumPy for every
    name that ``dir(numpy)`` and ``numpy.__all__`` list; NumPy loads a submodule the first
    time it is asked for, so the copy alone loads ``numpy.f2py``, ``numpy.testing`` (with
    ``unittest``) and ``numpy.polynomial``, for modules scoring never uses.
    :func:`_show_numpy_submodules` gives the copy those names back, loaded when first asked
    for."""
    import numpy

    lazy = getattr(numpy, "__numpy_submodules__", None)
    listed, star = getattr(numpy, "__dir__", None), getattr(numpy, "__all__", None)
    if NUMPY_COPY in sys.modules or not isinstance(lazy, (set, frozenset)) or not callable(listed) or not star:
        return None
    hidden = frozenset(name for name in lazy if f"numpy.{name}" not in sys.modules)
    numpy.__dir__ = lambda: [name for name in listed() if name not in hidden]
    numpy.__all__ = [name for name in star if name not in hidden]  # `from numpy import *` too
    return listed, star, hidden


def _show_numpy_submodules(saved) -> None:
    """Undo :func:`_hide_numpy_submodules`: ``dir(numpy)`` as before, and SciPy's copy of
    the namespace given the submodules left out, each loaded when first asked for."""
    if saved is None:
        return
    import numpy

    listed, star, hidden = saved
    numpy.__dir__, numpy.__all__ = listed, star
    copy = sys.modules.get(NUMPY_COPY)
    if copy is None or "__getattr__" in vars(copy):
        return

    def submodule(name: str):
        if name not in hidden:
            raise AttributeError(f"module {NUMPY_COPY!r} has no attribute {name!r}")
        value = getattr(numpy, name)
        setattr(copy, name, value)
        return value

    copy.__getattr__ = submodule


#: SciPy's modules whose decorators rewrite the docstrings of the functions they wrap.
DOCSTRING_REWRITERS = ("scipy._lib._util", "scipy._lib._array_api")


class _UnparsedDoc(dict):
    """Stands in for SciPy's ``FunctionDoc`` while scikit-learn loads: every section is
    empty, and the text is the function's docstring as it was (the form SciPy's
    decorators expect, a signature line first, which they cut)."""

    def __init__(self, function) -> None:
        super().__init__()
        self._text = getattr(function, "__doc__", None) or ""

    def __missing__(self, section: str) -> list:
        self[section] = value = []
        return value

    def __str__(self) -> str:
        return "\n" + self._text


def _skip_docstring_rewrites():
    """Let SciPy's decorators leave docstrings as they are while scikit-learn loads, and
    return what to restore (None: nothing was changed).

    ``scipy.linalg``, which scikit-learn imports through ``scipy.sparse.linalg``, wraps
    about 80 functions in decorators that parse each docstring (numpydoc) to add a note
    to it: about a twentieth of the start-up, for help text scoring never shows.  Only
    those docstrings differ (they lack SciPy's note on batched arrays and on the ``rng``
    argument); the functions are the same."""
    try:
        modules = [importlib.import_module(name) for name in DOCSTRING_REWRITERS]
    except ImportError:  # another SciPy: its modules load as they are
        return None
    if not all(callable(getattr(module, "FunctionDoc", None)) for module in modules):
        return None
    saved = [(module, module.FunctionDoc) for module in modules]
    for module in modules:
        module.FunctionDoc = _UnparsedDoc
    return saved


def _restore_docstring_rewrites(saved) -> None:
    """Undo :func:`_skip_docstring_rewrites`."""
    for module, original in saved or ():
        module.FunctionDoc = original


_PAUSED: list[bool] = []  # True while pause_collector's pause lasts


def pause_collector() -> None:
    """Pause the cyclic garbage collector for the start-up of a command.

    Importing scikit-learn and SciPy and loading the model make hundreds of thousands of
    objects that live as long as the process; the collector, counting them as they come,
    walks them all again several times (about a tenth of ``postcred score``'s start-up)
    while they hold no garbage.  :func:`settle_collector` ends the pause.
    """
    if gc.isenabled():
        gc.disable()
        _PAUSED.append(True)


def settle_collector() -> None:
    """End :func:`pause_collector`'s pause once the model is loaded: what start-up made is
    moved out of the collector's sight for good (``gc.freeze``: it lives until the process
    ends; forked workers then share its pages) and the collector runs again.  Does nothing
    when no pause is on (a library call, a test)."""
    if _PAUSED:
        _PAUSED.clear()
        gc.freeze()
        gc.enable()

