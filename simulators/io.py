"""Atomic output files that record how they were made."""

from __future__ import annotations

import json
import os
import platform
import tempfile
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path


def provenance(command: str, seed=None, params: dict | None = None) -> dict:
    """The block every output file carries: what made it, with which seed and parameters."""
    import metamdp

    return {"command": command, "seed": seed, "version": metamdp.__version__,
            "params": params or {}, "python": platform.python_version(),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def default_file_mode() -> int:
    """The mode ``open()`` gives a new file: ``0o666`` less the process umask.

    ``tempfile.mkstemp`` creates private (0600) files; an atomic write must not inherit that,
    or every output would be unreadable to the user's group where the umask allows it.
    """
    try:  # Linux: read the umask without changing it (os.umask is process-wide, not thread-safe)
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


@contextmanager
def atomic_path(path):
    """Yield a temporary path next to ``path``; on success give it the umask's mode and rename
    it onto ``path``, on failure delete it. A crash never leaves half a file at ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=str(path.parent))
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, default_file_mode())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_json_atomic(path, data) -> None:
    """Write JSON through a temporary file and a rename, so a crash never leaves half a file."""
    with atomic_path(path) as tmp:
        with open(tmp, "w") as f:
            json.dump(data, f, indent=2, default=json_default)
            f.write("\n")


IMAGE_FORMATS = ("png", "pdf", "svg", "jpg", "jpeg")


def check_image_path(path, option: str = "--plot") -> str:
    """The image format named by ``path``'s suffix; a clear error for anything else (a plot
    is never written as PNG under another file type's name)."""
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in IMAGE_FORMATS:
        raise ValueError(f"{option} {path}: unsupported image type "
                         f"{('.' + suffix) if suffix else '(no suffix)'}; use one of "
                         + ", ".join("." + x for x in IMAGE_FORMATS))
    return suffix


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
