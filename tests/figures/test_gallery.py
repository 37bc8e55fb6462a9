"""README copies of figures (``python -m paper_figures.gallery``): PNGs shrunk under the size
limit, tables copied as they are, a missing name an error that says what to run."""

import pytest

pytest.importorskip("PIL")
pytest.importorskip("matplotlib")

from paper_figures.gallery import main  # noqa: E402


def _figure(path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(12, 8), dpi=150)
    ax.imshow(np.random.default_rng(0).random((200, 300)))   # noise: a large PNG to shrink
    fig.savefig(path)
    plt.close(fig)


def test_figures_are_shrunk_and_tables_copied(tmp_path, capsys):
    src, dst = tmp_path / "run", tmp_path / "docs"
    src.mkdir()
    _figure(src / "fig1_reserved_logits.png")
    (src / "table1_prediction_quality.md").write_text("# Table 1\n\n| a | b |\n|---|---|\n| 1 | 2 |\n")
    assert main(["--src", str(src), "--dst", str(dst), "fig1_reserved_logits", "table1_prediction_quality"]) == 0
    png = dst / "fig1_reserved_logits.png"
    assert 0 < png.stat().st_size <= 200_000 < (src / "fig1_reserved_logits.png").stat().st_size
    from PIL import Image

    assert Image.open(png).width <= 1100
    assert (dst / "table1_prediction_quality.md").read_text() == (src / "table1_prediction_quality.md").read_text()
    assert not list(dst.glob(".*tmp*"))


def test_a_missing_name_is_an_error_naming_it(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    assert main(["--src", str(tmp_path / "run"), "--dst", str(tmp_path / "docs"), "fig9_nothing"]) == 2
    err = capsys.readouterr().err
    assert "fig9_nothing" in err and "ziprc figures" in err
    assert not (tmp_path / "docs").exists()
