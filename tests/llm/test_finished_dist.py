"""ZIP-RC in the online sampler with finished samples entering the planner as their
predicted reward distributions (``floor="distribution"``): the decision equals
:func:`metamdp.planner.plan` given those distributions, and a point mass equals a floor."""

import numpy as np
import pytest

from llm_backend.policies import ZipRCPolicy, make_policy
from metamdp.grids import LengthGrid, RewardGrid
from metamdp.planner import PlannerConfig, PlanningState, plan
from metamdp.policies import SampleView, View

REWARDS = RewardGrid.official(7)
LENGTHS = LengthGrid.binned((0, 8, 16, 32, 64), delta=8)


def _view(rng, n_unf, fin_joints, n_created):
    B, L = REWARDS.size, LENGTHS.size
    unf = [SampleView(sid=i, status="running", joint=rng.dirichlet(np.ones(B * L) * 0.5).reshape(B, L),
                      elapsed_ticks=2, own_ticks=2) for i in range(n_unf)]
    fin = [SampleView(sid=n_unf + k, status="finished", joint=j, value=float(j.sum(1) @ REWARDS.values),
                      elapsed_ticks=3, own_ticks=3, answer="1") for k, j in enumerate(fin_joints)]
    return View(unfinished=unf, finished=fin, root_joint=rng.dirichlet(np.ones(B * L)).reshape(B, L),
                n_created=n_created, epoch=1, rewards=REWARDS, lengths=LENGTHS, cap=6)


@pytest.mark.parametrize("seed", range(6))
def test_distribution_mode_equals_planner_with_finished_distributions(seed):
    rng = np.random.default_rng(seed)
    B, L = REWARDS.size, LENGTHS.size
    fin = [rng.dirichlet(np.ones(B * L)).reshape(B, L) for _ in range(2)]
    view = _view(rng, 3, fin, n_created=5)
    pol = make_policy("ziprc", cap=6, beta=0.05, alpha=0.1)
    assert pol.floor == "distribution"
    act = pol(view)
    cfg = PlannerConfig(rewards=REWARDS, lengths=LENGTHS, alpha=0.1, beta=0.05, cap=6, search="exhaustive",
                        branching=True)
    state = PlanningState(joints=np.stack([s.joint for s in view.unfinished]), root_joint=view.root_joint,
                          n_created=5, finished=np.stack([j.sum(1) for j in fin]))
    dec = plan(state, cfg)
    assert sorted(act.keep) == sorted(view.unfinished[j].sid for j in dec.strategy.keep)
    assert act.new == dec.strategy.new


@pytest.mark.parametrize("seed", range(4))
def test_point_mass_is_the_floor(seed):
    rng = np.random.default_rng(100 + seed)
    B, L = REWARDS.size, LENGTHS.size
    k = int(rng.integers(1, B))
    j = np.zeros((B, L))
    j[k, 0] = 1.0             # the finished sample's reward is v_k for sure
    view = _view(rng, 2, [j], n_created=3)
    a = ZipRCPolicy(beta=0.02, cap=6, floor="distribution")(view)
    b = ZipRCPolicy(beta=0.02, cap=6, floor="down")(view)
    assert (sorted(a.keep), a.new, a.branch_from) == (sorted(b.keep), b.new, b.branch_from)


def test_finished_cdf_is_product_of_cdfs():
    rng = np.random.default_rng(3)
    B, L = REWARDS.size, LENGTHS.size
    fin = [rng.dirichlet(np.ones(B * L)).reshape(B, L) for _ in range(3)]
    view = _view(rng, 1, fin, n_created=4)
    view.finished.append(SampleView(sid=9, status="truncated", joint=None))   # no answer: no factor
    got = ZipRCPolicy(floor="distribution").finished_cdf(view, B)
    want = np.prod([np.cumsum(f.sum(1)) for f in fin], axis=0)
    assert np.allclose(got, want)
    with pytest.raises(ValueError, match="floor"):
        ZipRCPolicy(floor="up")
