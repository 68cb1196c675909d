"""Start-up of ``postcred score``: import scikit-learn without what scoring never uses.

Importing scikit-learn imports pandas (``sklearn.utils.fixes`` does, when pandas is
installed, and pandas imports pyarrow) and scipy.stats (modules on the way to
``LogisticRegression`` bind ``rankdata``, ``gmean`` or scipy.stats itself when they load),
for functions scoring never calls: about a third of the command's start-up.
:func:`import_sklearn_lean` imports the scikit-learn modules a saved model is made of with
pandas reported missing (scikit-learn supports that: its pandas helpers are then unused)
and scipy.stats stood in for by a module whose names load the real scipy.stats when they
are first used.  Afterwards both import as usual: nothing is lost, only deferred.

Only the score command calls it, before anything imports scikit-learn; a library user's
process imports scikit-learn the usual way.
"""

from __future__ import annotations

import importlib
import sys
import types

#: The scikit-learn modules a saved postcred model is made of (see classifier.model).
SKLEARN_MODULES = ("sklearn.base", "sklearn.pipeline", "sklearn.feature_extraction.text", "sklearn.linear_model")
#: Imported by scikit-learn when it loads, used by none of the code scoring runs.
MISSING = ("pandas",)
DEFERRED = ("scipy.stats",)


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


def import_sklearn_lean() -> None:
    """Import :data:`SKLEARN_MODULES` without loading :data:`MISSING` and :data:`DEFERRED`
    (nothing happens when scikit-learn is already imported)."""
    if "sklearn" in sys.modules:
        return
    missing = [name for name in MISSING if name not in sys.modules]
    deferred = [name for name in DEFERRED if name not in sys.modules]
    try:
        for name in missing:
            sys.modules[name] = None  # `import pandas` raises ImportError
        for name in deferred:
            sys.modules[name] = _DeferredModule(name)
        for module in SKLEARN_MODULES:
            importlib.import_module(module)
    finally:
        for name in missing:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]
        for name in deferred:
            if isinstance(sys.modules.get(name), _DeferredModule):
                del sys.modules[name]
