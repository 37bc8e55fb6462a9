"""The runnable examples of ``docs/api.md`` (``examples/*.py``) run and their own checks
hold (each ends with assertions under ``__main__``)."""

import runpy
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.slow
@pytest.mark.parametrize("name", ["plan_one_decision", "evaluate_world", "run_study",
                                  "replay_traces", "my_policy"])
def test_example_runs(name, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", [str(EXAMPLES / f"{name}.py"), str(tmp_path / "out.png")
                                      if name == "run_study" else str(tmp_path)])
    if name == "my_policy":
        monkeypatch.setattr(sys, "argv", [str(EXAMPLES / f"{name}.py")])
    monkeypatch.syspath_prepend(str(EXAMPLES))
    runpy.run_path(str(EXAMPLES / f"{name}.py"), run_name="__main__")
    assert capsys.readouterr().out.strip()
    if name == "run_study":
        assert (tmp_path / "out.png").stat().st_size > 1000
    if name == "replay_traces":
        assert (tmp_path / "my_traces.parquet").exists()


def test_api_doc_lists_every_example():
    doc = (EXAMPLES.parent / "docs" / "api.md").read_text()
    for f in EXAMPLES.glob("*.py"):
        assert f"examples/{f.name}" in doc, f.name
