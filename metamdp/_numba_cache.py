"""Keep Numba's on-disk caches honest across files.

Numba keys the cache of a jitted function by its own source file only, but the compiled
code contains its callees from other files: after an edit there, a cached caller silently
keeps running the old callee. :func:`drop_stale` removes a package's cache files whenever
any of the sources its kernels depend on changed since they were written.
"""

from __future__ import annotations

import hashlib
from pathlib import Path


def cache_dir(source) -> Path:
    """Where Numba keeps the caches of ``source``'s jitted functions: ``__pycache__`` beside
    it, or its folder under ``NUMBA_CACHE_DIR`` when that is set (Numba's own layout)."""
    source = Path(source).resolve()
    try:
        from numba.core import config
        from numba.core.caching import _CacheLocator

        if config.CACHE_DIR:
            return Path(config.CACHE_DIR) / _CacheLocator.get_suitable_cache_subpath(str(source))
    except (ImportError, AttributeError):  # a Numba without this layout: the default place
        pass
    return source.parent / "__pycache__"


def drop_stale(cache_dirs, sources, stamp_name: str = "sources.sha256") -> None:
    """Delete the ``*.nbi``/``*.nbc`` files of ``cache_dirs`` unless ``sources`` are
    unchanged since the last call (a digest is kept in the first cache directory)."""
    cache_dirs = [Path(d) for d in cache_dirs]
    digest = hashlib.sha256(b"".join(Path(p).read_bytes() for p in sources
                                     if Path(p).exists())).hexdigest()
    stamp = cache_dirs[0] / stamp_name
    try:
        if stamp.exists() and stamp.read_text() == digest:
            return
        for d in cache_dirs:
            if d.exists():
                for f in list(d.glob("*.nbi")) + list(d.glob("*.nbc")):
                    f.unlink(missing_ok=True)
        cache_dirs[0].mkdir(parents=True, exist_ok=True)
        stamp.write_text(digest)
    except OSError:  # a read-only install: its caches were written from these sources
        pass
