import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("pyarrow")

from metamdp.planner import PlannerConfig  # noqa: E402
from simulators.traces import read_traces, validate_traces, write_traces  # noqa: E402

from metamdp.policies import Action, RewardPrune  # noqa: E402

from llm_backend.policies import MajorityVotePolicy, ZipRCPolicy  # noqa: E402
from llm_backend.sampler import OnlineSampler, majority_from_samples  # noqa: E402
from llm_backend.task import make_problems  # noqa: E402
from llm_backend.train import length_grid  # noqa: E402
from metamdp.grids import RewardGrid  # noqa: E402

torch.set_num_threads(1)  # <= 2; one thread is far faster when the cores are shared
from .tiny import GRID, LateBranch, tiny_model  # noqa: E402


@pytest.fixture(scope="module")
def tiny():
    return tiny_model()


def _check_rows(rows, cap):
    assert len(rows) <= cap
    for r in rows:
        assert r["tick_tokens"][0] == 0
        assert len(r["joints"]) == len(r["tick_tokens"])
        assert np.all(np.diff(r["tick_tokens"]) > 0)
        assert r["total_tokens"] >= r["tick_tokens"][-1]
        for j in r["joints"]:
            assert abs(sum(j) - 1) < 1e-6


def test_majority_vote_runs_all_to_completion_and_traces_validate(tiny, tmp_path):
    model, tok, rs = tiny
    s = OnlineSampler(model, tok, rs, GRID, cap=4, max_new_tokens=30, seed=0)
    rows = []
    for p in make_problems(3, seed=0, max_steps=2):
        r = s.run(p, MajorityVotePolicy(4))
        assert r.n_started == 4 and r.pruned_tokens == 0
        assert r.compute_tokens == sum(x["total_tokens"] for x in r.samples)
        assert r.serial_tokens == max(x["total_tokens"] for x in r.samples)
        assert all(x["status"] in ("finished", "truncated") for x in r.samples)
        ok, ct, st = majority_from_samples(r.samples, 4, p.answer)
        assert ct == r.compute_tokens and st == r.serial_tokens and ok == r.correct_vote
        _check_rows(r.samples, 4)
        rows.extend(r.samples)
    assert s.pool.n_free == s.pool.capacity  # every slot released
    path = tmp_path / "mv.parquet"
    write_traces(path, rows, {"seed": 0, "params": {"policy": "majority"}})
    info = validate_traces(path)
    assert info is not None
    back = read_traces(path)
    assert back is not None


def test_ziprc_policy_drives_sampler(tiny, tmp_path):
    model, tok, rs = tiny
    rewards = RewardGrid.official(rs.reward_states)
    cfg = PlannerConfig(rewards=rewards, lengths=length_grid(GRID), alpha=0.1, beta=0.01, cap=4)
    s = OnlineSampler(model, tok, rs, GRID, cap=4, max_new_tokens=30, seed=1)
    rows = []
    for p in make_problems(3, seed=1, max_steps=2):
        r = s.run(p, ZipRCPolicy(cfg))
        assert 1 <= r.n_started <= 4
        assert r.compute_tokens == sum(x["total_tokens"] for x in r.samples)
        assert r.serial_tokens <= r.compute_tokens
        _check_rows(r.samples, 4)
        rows.extend(r.samples)
    assert s.pool.n_free == s.pool.capacity
    write_traces(tmp_path / "z.parquet", rows, {"seed": 1, "params": {"policy": "ziprc"}})
    validate_traces(tmp_path / "z.parquet")


class Scripted:
    """Start one sample, let it run a tick, pause it while a branch of it runs, then stop."""

    name = "scripted"

    def __init__(self):
        self.log = []

    def __call__(self, view):
        self.log.append([(s.sid, s.status, len(s.tokens)) for s in view.unfinished])
        if view.epoch == 0:
            return Action(keep=[], new=1)
        if view.epoch == 1 and view.unfinished:
            return Action(keep=[], new=1, branch_from=view.unfinished[0].sid)
        return Action(keep=[])


def test_branch_copies_prefix_and_pause_keeps_sample(tiny):
    model, tok, rs = tiny
    s = OnlineSampler(model, tok, rs, GRID, cap=3, max_new_tokens=30, seed=2)
    s.sampler.mask[tok.eos_token_id] = True  # no sample finishes on its own here
    pol = Scripted()
    r = s.run(make_problems(1, seed=3)[0], pol)
    assert r.n_started == 2
    a, b = r.samples
    assert b["branch_from"] == 0 and b["prefix_tokens"] == GRID.delta
    assert a["total_tokens"] == GRID.delta  # paused during the branch's tick, then pruned
    assert a["status"] == "pruned" and b["status"] == "pruned"
    assert r.pruned_tokens == 2 * GRID.delta and r.compute_tokens == 2 * GRID.delta
    # the branch's first recorded joint is its source's joint at the branch point
    assert np.allclose(b["joints"][0], a["joints"][-1])


def test_a_late_branch_stops_at_the_generation_budget(tiny):
    """A branch continues its parent's sequence (it starts at the prefix's node), so the
    budget ``max_new_tokens`` bounds its whole length, prefix included: a branch made at 24
    of 30 tokens runs 6 more and is truncated there. (Counting only its own tokens let a
    branch run past the KV pool's room and stop with a PoolError.)"""
    model, tok, rs = tiny
    s = OnlineSampler(model, tok, rs, GRID, cap=2, max_new_tokens=30, seed=5)
    s.sampler.mask[tok.eos_token_id] = True   # no sample ends on its own
    r = s.run(make_problems(1, seed=3)[0], LateBranch(at=6))
    a, b = r.samples
    assert b["branch_from"] == 0 and b["prefix_tokens"] == 6 * GRID.delta
    assert b["status"] == "truncated" and b["prefix_tokens"] + b["total_tokens"] == 30
    assert len(b["output_token_ids"]) == 30 - 6 * GRID.delta
    assert a["status"] == "pruned" and a["total_tokens"] == 6 * GRID.delta


def test_reward_pruning_policy_runs(tiny):
    model, tok, rs = tiny
    s = OnlineSampler(model, tok, rs, GRID, cap=3, max_new_tokens=20, seed=3)
    r = s.run(make_problems(1, seed=4)[0], RewardPrune(3, threshold=0.4))
    assert r.n_started == 3
