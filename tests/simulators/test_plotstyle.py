"""The shared plot style: Pareto fronts (against brute force), fixed policy colours whatever
the other policies of a plot, and plot files written only in a format their name asks for."""

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from simulators.plotstyle import (POLICY_STYLE, draw_frontiers, frontier_figure, pareto_front,  # noqa: E402
                                  save_figure)


def _brute_front(x, y):
    keep = []
    for i in range(x.size):
        dominated = np.any((x <= x[i]) & (y >= y[i]) & ((x < x[i]) | (y > y[i])))
        # among exact duplicates keep one (the first by index)
        dup = np.flatnonzero((x == x[i]) & (y == y[i]))
        if not dominated and dup[0] == i:
            keep.append(i)
    return sorted(keep, key=lambda i: x[i])


def test_pareto_front_matches_brute_force():
    rng = np.random.default_rng(3)
    for _ in range(300):
        n = int(rng.integers(1, 12))
        x = rng.integers(0, 6, size=n).astype(float)  # ties on purpose
        y = rng.integers(0, 6, size=n).astype(float)
        got = pareto_front(x, y)
        want = _brute_front(x, y)
        assert [(x[i], y[i]) for i in got] == [(x[i], y[i]) for i in want]


def _rows(policies):
    rows = []
    for k, p in enumerate(policies):
        for j, c in enumerate((0.8, 1.2, 2.0)):
            a = 0.5 + 0.1 * j + 0.01 * k
            rows.append({"policy": p, "variant": "", "knob": j, "gen_cost": c + 0.01 * k, "accuracy": a,
                         "accuracy_ci": [a - 0.02, a + 0.02]})
    return rows


def test_a_policy_keeps_its_colour_whatever_else_is_plotted():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import to_hex

    colours = []
    for policies in (["ziprc", "mv"], ["mv", "bon", "pandora", "ziprc", "esc"]):
        fig, ax = plt.subplots()
        draw_frontiers(ax, _rows(policies), gid="p")
        line = next(a for a in ax.get_lines() if a.get_gid() == "p/ziprc/front")
        colours.append(to_hex(line.get_color()))
        plt.close(fig)
    assert colours[0] == colours[1] == POLICY_STYLE["ziprc"][1].lower()


def test_a_row_that_names_itself_keeps_its_name_in_the_legend():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = _rows(["ziprc", "mv"])
    for r in rows:
        if r["policy"] == "ziprc":
            r["label"] = "ZIP-RC replayed, no branching"
    fig, ax = plt.subplots()
    draw_frontiers(ax, rows, gid="p")
    labels = {a.get_gid(): a.get_label() for a in ax.get_lines()}
    plt.close(fig)
    assert labels["p/ziprc/front"] == "ZIP-RC replayed, no branching"
    assert labels["p/mv/front"] == POLICY_STYLE["mv"][0]


def test_study_plot_draws_fronts_budget_and_details(tmp_path):
    rows = _rows(["ziprc", "mv", "pass_at_n"])
    rows.append({"policy": "mv", "variant": "", "knob": 9, "gen_cost": 3.0, "accuracy": 0.4,
                 "accuracy_ci": [0.38, 0.42]})  # dominated
    result = {"rows": rows, "reference": {"knob": 2, "gen_cost": 1.2, "accuracy": 0.6, "budget": 1.26},
              "matched": [{"policy": "ziprc", "variant": "", "gen_cost": 1.2, "accuracy": 0.6,
                           "within_budget": True}],
              "provenance": {"seed": 0, "version": "x", "command": "ziprc study",
                             "params": {"suite": "mixed", "alpha": 0.1, "questions": 3, "episodes": 1}}}
    series = frontier_figure(result, tmp_path / "f.png")
    assert (tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG"
    assert series["/mv/dominated"]["x"] == [3.0]
    assert {"/budget", "/mv/matched", "/ziprc/matched"} <= set(series)
    frontier_figure(result, tmp_path / "f.pdf")
    assert (tmp_path / "f.pdf").read_bytes()[:5] == b"%PDF-"


def test_plot_to_an_unknown_format_is_refused(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, _ = plt.subplots()
    with pytest.raises(ValueError, match="unsupported image type .txt"):
        save_figure(fig, tmp_path / "x.txt")
    plt.close(fig)
    assert not list(tmp_path.iterdir())
