"""Build figures and tables: ``ziprc figures`` and ``python -m paper_figures.run``.

Stages are computed in the order the chosen figures need them and cached under
``OUT/cache`` (see :mod:`paper_figures.stages`), so rerunning after an interruption, or
asking for one more figure later, recomputes only what is missing.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

from . import FIGURES, NAMES


class FiguresError(ValueError):
    """Bad figure names or output directory."""


def parse_names(text: str | None) -> list:
    if not text:
        return list(NAMES)
    names = [n.strip() for n in text.split(",") if n.strip()]
    bad = [n for n in names if n not in FIGURES]
    if bad:
        raise FiguresError(f"unknown figure {bad[0]!r}; choose from {', '.join(NAMES)}")
    if not names:
        raise FiguresError("--only needs at least one figure name")
    return [n for n in NAMES if n in names]


def build(names, out, fast: bool = False, progress: bool = True, command: str | None = None) -> dict:
    """Build ``names`` into ``out``; returns ``{name: [paths]}``."""
    from .stages import Stages

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise FiguresError(f"--out {out} exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    stages = Stages(out, fast=fast, progress=progress)
    stages.command = command or ("ziprc figures" + (" --fast" if fast else "")
                                 + (f" --only {','.join(names)}" if list(names) != list(NAMES) else ""))
    written = {}
    t_all = time.perf_counter()
    for i, name in enumerate(names, 1):
        module, _ = FIGURES[name]
        t0 = time.perf_counter()
        if progress:
            print(f"[figures] ({i}/{len(names)}) {name} ...", flush=True)
        mod = importlib.import_module(f"paper_figures.{module}")
        paths = mod.build(stages, out)
        written[name] = [str(p) for p in paths]
        if progress:
            print(f"[figures] ({i}/{len(names)}) {name}: wrote "
                  f"{', '.join(Path(p).name for p in paths)} ({time.perf_counter() - t0:.0f}s)", flush=True)
    if progress:
        print(f"[figures] {len(names)} figure(s)/table(s) in {out} ({time.perf_counter() - t_all:.0f}s)")
    return written


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m paper_figures.run", description=__doc__)
    p.add_argument("--out", default="runs/figures")
    p.add_argument("--only", default=None)
    p.add_argument("--fast", action="store_true")
    a = p.parse_args(argv)
    try:
        build(parse_names(a.only), a.out, a.fast)
    except FiguresError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


def main_one(name: str, argv=None) -> int:
    """``python -m paper_figures.NAME [--out DIR] [--fast]``: one figure alone."""
    p = argparse.ArgumentParser(prog=f"python -m paper_figures.{name}")
    p.add_argument("--out", default="runs/figures")
    p.add_argument("--fast", action="store_true")
    a = p.parse_args(argv)
    build([name], a.out, a.fast)
    return 0


if __name__ == "__main__":
    sys.exit(main())
