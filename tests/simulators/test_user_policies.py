"""Bring your own policy: ``--policy-module PATH.py:ClassName`` on ``ziprc study`` and
``ziprc replay`` (a user's 3-sample vote reproduces ``mv`` with N = 3 exactly), loading
errors, and a user's policy that fails mid-run."""

import json
from pathlib import Path

import pytest

from metamdp.policies import PolicyModuleError, load_policies
from ziprc_cli.main import main

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

ROOT = Path(__file__).resolve().parents[2]
THREE = f"{ROOT / 'examples' / 'my_policy.py'}:ThreeVotes"
SAME = ("accuracy", "accuracy_ci", "gen_cost", "gen_cost_ci", "compute", "latency", "samples",
        "pruned", "answered")


def _mv3_and_mine(rows):
    mv3 = next(r for r in rows if r["policy"] == "mv" and r["knob"] == 3)
    mine = [r for r in rows if r["policy"] == "three_votes"]
    assert len(mine) == 1
    return mv3, mine[0]


def test_study_runs_a_users_policy_like_mv3(tmp_path, capsys):
    js, png = tmp_path / "s.json", tmp_path / "s.png"
    assert main(["study", "--suite", "amc23", "--questions", "12", "--episodes", "2", "--seed", "5",
                 "--policies", "mv", "--policy-module", THREE, "--json", str(js),
                 "--plot", str(png), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "three_votes" in out
    data = json.loads(js.read_text())
    mv3, mine = _mv3_and_mine(data["rows"])
    for k in SAME:
        assert mine[k] == mv3[k], k
    assert data["provenance"]["params"]["policies"] == ["mv", "three_votes"]
    assert png.stat().st_size > 1000


def test_replay_runs_a_users_policy_like_mv3(tmp_path):
    path = tmp_path / "t.parquet"
    assert main(["replay", "--record", "--traces", str(path), "--suite", "gsm8k",
                 "--questions", "10", "--samples", "4"]) == 0
    js = tmp_path / "r.json"
    assert main(["replay", "--traces", str(path), "--policies", "mv", "--cap", "4",
                 "--policy-module", THREE, "--json", str(js), "--no-progress"]) == 0
    mv3, mine = _mv3_and_mine(json.loads(js.read_text())["rows"])
    for k in SAME:
        assert mine[k] == mv3[k], k


BAD = '''
from metamdp.policies import Action, Policy

class NoName(Policy):
    def __call__(self, view):
        return Action(keep=[])

class Builtin(Policy):
    name = "mv"
    def __call__(self, view):
        return Action(keep=[])

class NotAPolicy:
    name = "x"

class Bad(Policy):
    name = "bad"
    def __call__(self, view):
        if view.epoch == 3:
            return Action(keep=[s.sid for s in view.unfinished] + [99])
        return Action(keep=[s.sid for s in view.unfinished], new=2 if view.epoch == 0 else 0)
'''


def test_loading_errors(tmp_path):
    mod = tmp_path / "pols.py"
    mod.write_text(BAD)
    for spec, pattern in [(f"{mod}", "PATH.py:ClassName"), (f"{tmp_path / 'nope.py'}:X", "no such file"),
                          (f"{mod}:Missing", "defines no 'Missing'"), (f"{mod}:NotAPolicy", "not a subclass"),
                          (f"{mod}:NoName", "needs a class attribute `name`"),
                          (f"{mod}:Builtin", "is a built-in policy's")]:
        with pytest.raises(PolicyModuleError, match=pattern):
            load_policies(spec, reserved=("mv",))
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('nope')\n")
    with pytest.raises(PolicyModuleError, match="importing .* failed: RuntimeError: nope"):
        load_policies(f"{broken}:X")
    two = load_policies([f"{mod}:Bad,{THREE}"])
    assert [p.name for p in two] == ["bad", "three_votes"]


def test_cli_reports_a_failing_user_policy(tmp_path, capsys):
    mod = tmp_path / "pols.py"
    mod.write_text(BAD)
    assert main(["study", "--suite", "gsm8k", "--questions", "3", "--policies", "mv",
                 "--policy-module", f"{mod}:Bad", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "policy 'bad' returned an invalid action at question gsm8k-0" in err and "epoch 3" in err
    assert "keep contains sample 99" in err
    assert main(["study", "--policy-module", f"{mod}:Builtin", "--no-progress"]) == 2
    assert "built-in" in capsys.readouterr().err


def test_llm_sample_accepts_policy_modules(tmp_path):
    pytest.importorskip("torch")
    from ziprc_cli.llm_cmd import LLMCommandError, _config  # noqa: F401
    from ziprc_cli.main import build_parser

    args = build_parser().parse_args(["llm", "sample", "--policies", "mv", "--policy-module", THREE])
    assert _config(args).policy_modules == (THREE,)
    bad = build_parser().parse_args(["llm", "sample", "--policy-module", f"{tmp_path}/none.py:X"])
    with pytest.raises(PolicyModuleError, match="no such file"):
        _config(bad)


def test_a_users_knob_is_swept():
    from metamdp.policies import Action, Policy
    from simulators.study import run_study

    class Votes(Policy):
        name, knob_name, knobs = "votes", "n", (1, 3)

        def __init__(self, n: int = 2):
            self.n = n

        def __call__(self, view):
            if view.n_created == 0:
                return Action(keep=[], new=self.n)
            return Action(keep=[s.sid for s in view.unfinished])

    res = run_study("gsm8k", 0.1, "mv", questions=6, episodes=2, progress=False, n_boot=50,
                    refine=False, user_policies=[Votes()])
    mine = [r for r in res["rows"] if r["policy"] == "votes"]
    assert [r["knob"] for r in mine] == [1, 3]
    mv = {r["knob"]: r for r in res["rows"] if r["policy"] == "mv"}
    for r in mine:
        assert (r["accuracy"], r["gen_cost"]) == (mv[r["knob"]]["accuracy"], mv[r["knob"]]["gen_cost"])
