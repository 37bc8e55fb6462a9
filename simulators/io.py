"""Atomic output files that record how they were made."""

from __future__ import annotations

import json
import os
import platform
import tempfile
from datetime import datetime, timezone
from pathlib import Path


def provenance(command: str, seed=None, params: dict | None = None) -> dict:
    """The block every output file carries: what made it, with which seed and parameters."""
    import metamdp

    return {"command": command, "seed": seed, "version": metamdp.__version__,
            "params": params or {}, "python": platform.python_version(),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def write_json_atomic(path, data) -> None:
    """Write JSON through a temporary file and a rename, so a crash never leaves half a file."""
    path = Path(path)
    if path.parent and not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=str(path.parent or "."))
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2, default=json_default)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def json_default(x):
    """JSON form of NumPy scalars and arrays (for ``json.dump(default=...)``)."""
    import numpy as np

    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.floating):
        return float(x)
    if isinstance(x, np.ndarray):
        return x.tolist()
    raise TypeError(f"cannot serialise {type(x).__name__}")
