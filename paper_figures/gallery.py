"""Small copies of chosen figures for the README (``docs/figures/``): resized to a README-width
PNG with a 256-colour palette, so each stays well under 200 KB. A table (``NAME.md``) is
copied as it is.

``python -m paper_figures.gallery --src runs/figures_full --dst docs/figures NAME [NAME ...]``
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from simulators.io import atomic_path


def shrink(src, dst, width: int = 1100, max_bytes: int = 200_000) -> int:
    """Write a resized, palette PNG of ``src`` to ``dst``; returns its size in bytes."""
    from PIL import Image

    img = Image.open(src).convert("RGB")
    w = width
    while True:
        h = round(img.height * w / img.width)
        small = img.resize((w, h), Image.LANCZOS).quantize(colors=256, method=Image.Quantize.MEDIANCUT)
        dst = Path(dst)
        with atomic_path(dst) as tmp:
            small.save(tmp, format="PNG", optimize=True)
        size = dst.stat().st_size
        if size <= max_bytes or w < 500:
            return size
        w = int(w * 0.85)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m paper_figures.gallery", description=__doc__)
    p.add_argument("--src", required=True)
    p.add_argument("--dst", default="docs/figures")
    p.add_argument("--width", type=int, default=1100)
    p.add_argument("names", nargs="+")
    a = p.parse_args(argv)
    src = Path(a.src)
    missing = [n for n in a.names if not (src / f"{n}.png").exists() and not (src / f"{n}.md").exists()]
    if missing:
        print(f"error: no {', '.join(missing)} (.png or .md) in {src}: run `ziprc figures --out {src} "
              f"--only {','.join(missing)}` first", file=sys.stderr)
        return 2
    for n in a.names:
        if (src / f"{n}.png").exists():
            size = shrink(src / f"{n}.png", Path(a.dst) / f"{n}.png", a.width)
            print(f"{a.dst}/{n}.png: {size / 1000:.0f} kB")
        else:   # a table: Markdown, copied atomically
            dst = Path(a.dst) / f"{n}.md"
            with atomic_path(dst) as tmp:
                Path(tmp).write_text((src / f"{n}.md").read_text())
            print(f"{dst}: table copied")
    return 0


if __name__ == "__main__":
    sys.exit(main())
