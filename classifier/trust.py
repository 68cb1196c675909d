"""Which model files postcred loads: a model file is code.

A joblib file is a pickle, and a pickle names functions to call while it loads: loading
a model runs whatever its author chose.  So postcred unpickles a model only when the
SHA-256 of its bytes is in one of two records it keeps where a model's sender cannot
write:

- the **shipped record**, ``classifier/models/postcred.sha256`` inside the package: the
  hash of the shipped model, rewritten by ``postcred train`` when it writes the shipped
  model and committed with it;
- this user's **machine record**, ``$XDG_DATA_HOME/postcred/trusted-models.sha256``
  (``~/.local/share/postcred/`` by default): every model ``postcred train`` wrote here.

A hash stored beside a model would prove nothing: whoever hands over a hostile model hands
over the file beside it too.  Any other model needs the user's explicit ``--trust-model``.
Both records are in ``sha256sum`` format (``<hex>  <file>`` per line), so
``sha256sum -c`` checks them too.
"""

from __future__ import annotations

import hashlib
import os
import re
import warnings
from pathlib import Path

from .outputs import atomic_write_text, locked

MODELS_DIR = Path(__file__).parent / "models"
SHIPPED_RECORD = MODELS_DIR / "postcred.sha256"
MACHINE_RECORD_NAME = "trusted-models.sha256"
_LINE_RE = re.compile(r"^([0-9a-f]{64}) [ *](.+)$")


def sha256_hex(data: bytes) -> str:
    """The SHA-256 of a model file's bytes, as 64 hex digits."""
    return hashlib.sha256(data).hexdigest()


def machine_record() -> Path:
    """This user's record of the models trained on this machine (XDG data folder)."""
    base = os.environ.get("XDG_DATA_HOME", "")
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".local" / "share"
    return root / "postcred" / MACHINE_RECORD_NAME


def recorded(record: Path) -> dict[str, str]:
    """The hashes of a record file, each with the file name recorded beside it ({} if none)."""
    try:
        text = record.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        warnings.warn(f"{record}: cannot read the trusted-model record ({exc}); ignoring it", stacklevel=2)
        return {}
    found = {}
    for line in text.split("\n"):
        match = _LINE_RE.match(line.strip())
        if match:
            found[match.group(1)] = match.group(2)
    return found


def is_trusted(digest: str) -> bool:
    """True when ``digest`` is the shipped model's or one trained on this machine."""
    return digest in recorded(SHIPPED_RECORD) or digest in recorded(machine_record())


def trust(digest: str, model_path: str | Path, *, shipped: bool) -> Path | None:
    """Record ``digest`` as trusted: as the shipped model's (the package record, replaced)
    or in this user's machine record (added to it).  Returns the record written.

    A machine record that cannot be written is a warning, not an error: the model is
    saved, and loads with ``--trust-model``.
    """
    model_path = Path(model_path)
    if shipped:
        atomic_write_text(SHIPPED_RECORD, f"{digest}  {model_path.name}\n")
        return SHIPPED_RECORD
    record = machine_record()
    try:
        record.parent.mkdir(parents=True, exist_ok=True)
        with locked(record.parent, what="recording a trusted model"):
            known = recorded(record)
            if digest not in known:
                known[digest] = str(model_path.resolve())
                atomic_write_text(record, "".join(f"{h}  {name}\n" for h, name in known.items()))
    except OSError as exc:
        warnings.warn(f"{record}: cannot record {model_path} as trusted ({exc.strerror or exc}); "
                      "load it with --trust-model", stacklevel=2)
        return None
    return record
