"""Writing a figure or a table with the data it shows and its provenance.

A figure writes ``NAME.png``, ``NAME.pdf`` and ``NAME.json``. The JSON holds

* ``series``: what the figure script meant to draw, keyed by the ``gid`` of each artist;
* ``plotted``: what the matplotlib figure actually contains, read back from its artists
  (lines, markers, images, bars) after drawing (:func:`plotted_data`);
* ``data``: further numbers the figure is made from; ``provenance``: command, seed, version,
  parameters.

``tests/figures/test_paper_figures.py`` checks that ``series`` and ``plotted`` agree, so the JSON holds
what the PNG shows. A table writes ``NAME.md`` and ``NAME.json`` (its rows, every cell as a
number, and the paper's numbers beside ours).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from simulators.io import provenance, write_json_atomic


def pyplot():
    """matplotlib.pyplot on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9,
                         "legend.fontsize": 8, "figure.dpi": 110})
    return plt


def _floats(a) -> list:
    return np.asarray(a, dtype=float).ravel().tolist()


def plotted_data(fig) -> dict:
    """Every artist of ``fig`` that has a gid, as ``{gid: {"x": [...], "y": [...]}}`` (lines,
    markers, scatter offsets, bar heights) or ``{gid: {"z": [[...]]}}`` (images)."""
    from matplotlib.collections import PathCollection
    from matplotlib.image import AxesImage
    from matplotlib.lines import Line2D
    from matplotlib.patches import Rectangle

    out: dict = {}
    bars: dict = {}
    for ax in fig.axes:
        for a in ax.get_children():
            gid = a.get_gid()
            if not gid:
                continue
            if isinstance(a, Line2D):
                out[gid] = {"x": _floats(a.get_xdata()), "y": _floats(a.get_ydata())}
            elif isinstance(a, PathCollection):
                off = np.asarray(a.get_offsets(), dtype=float)
                out[gid] = {"x": off[:, 0].tolist(), "y": off[:, 1].tolist()}
            elif isinstance(a, AxesImage):
                out[gid] = {"z": np.asarray(a.get_array(), dtype=float).tolist()}
            elif isinstance(a, Rectangle):
                # one gid per bar group: bars are collected in drawing order
                b = bars.setdefault(gid, {"x": [], "y": []})
                b["x"].append(float(a.get_x() + a.get_width() / 2))
                b["y"].append(float(a.get_height()))
    out.update(bars)
    return out


def _json_ready(series: dict) -> dict:
    out = {}
    for k, s in series.items():
        out[k] = {kk: (np.asarray(v, dtype=float).tolist() if kk in ("x", "y", "z") else v)
                  for kk, v in s.items()}
    return out


def write_figure(fig, out_dir, name: str, series: dict, data: dict, params: dict,
                 seed: int = 0, command: str = "ziprc figures") -> list:
    """Save ``fig`` as ``NAME.png`` and ``NAME.pdf`` and its numbers as ``NAME.json``.

    Returns the three paths. ``series`` must name every artist drawn with a gid.
    """
    from simulators.plotstyle import save_figure

    plt = pyplot()
    out_dir = Path(out_dir)
    png, pdf, js = out_dir / f"{name}.png", out_dir / f"{name}.pdf", out_dir / f"{name}.json"
    plotted = plotted_data(fig)
    save_figure(fig, png)
    save_figure(fig, pdf)
    plt.close(fig)
    write_json_atomic(js, {"name": name, "kind": "figure", "series": _json_ready(series),
                           "plotted": plotted, "data": data,
                           "provenance": provenance(command, seed, params)})
    return [png, pdf, js]


def write_table(out_dir, name: str, markdown: str, rows: list, data: dict, params: dict,
                seed: int = 0, command: str = "ziprc figures") -> list:
    """Write ``NAME.md`` (atomically) and ``NAME.json`` (``rows`` + ``data`` + provenance)."""
    from simulators.io import atomic_path

    out_dir = Path(out_dir)
    md = out_dir / f"{name}.md"
    with atomic_path(md) as tmp:
        Path(tmp).write_text(markdown.rstrip() + "\n")
    js = out_dir / f"{name}.json"
    write_json_atomic(js, {"name": name, "kind": "table", "rows": rows, "data": data,
                           "provenance": provenance(command, seed, params)})
    return [md, js]


def pct(x, digits: int = 1) -> str:
    return "n/a" if x is None else f"{100 * x:.{digits}f}"


def pct_ci(x, ci, digits: int = 1) -> str:
    if x is None:
        return "n/a"
    if not ci or ci[0] is None or np.isnan(ci[0]):
        return pct(x, digits)
    return f"{100 * x:.{digits}f} [{100 * ci[0]:.{digits}f}, {100 * ci[1]:.{digits}f}]"


def pts_ci(d, ci, digits: int = 1) -> str:
    """A difference in points with its CI (``ci`` may be None: no interval could be made)."""
    if d is None:
        return "n/a"
    if not ci or ci[0] is None:
        return f"{100 * d:+.{digits}f}"
    return f"{100 * d:+.{digits}f} [{100 * ci[0]:+.{digits}f}, {100 * ci[1]:+.{digits}f}]"


def num_ci(x, ci, digits: int = 2) -> str:
    if not ci or ci[0] is None:
        return f"{x:.{digits}f}"
    return f"{x:.{digits}f} [{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]"
