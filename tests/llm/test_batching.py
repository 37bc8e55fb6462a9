"""Decoding that scales: the KV cache written in place (no per-step rebuild) and samples of
several questions decoded together, with every recorded joint equal to a plain forward pass."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from llm_backend.decode import KVPool  # noqa: E402
from llm_backend.rollouts import prompt_ids  # noqa: E402
from llm_backend.policies import MajorityVotePolicy, ZipRCPolicy  # noqa: E402
from llm_backend.sampler import OnlineSampler  # noqa: E402
from llm_backend.task import make_problems  # noqa: E402
from llm_backend.train import length_grid  # noqa: E402
from metamdp.grids import RewardGrid  # noqa: E402
from metamdp.planner import PlannerConfig  # noqa: E402

torch.set_num_threads(1)
from .tiny import GRID  # noqa: E402


@pytest.fixture(scope="module")
def tiny():
    """A tiny random model whose samples end at lengths from 1 to the limit."""
    from llm_backend.model import build_model

    model, tok, rs = build_model("tiny", GRID, seed=0)
    with torch.no_grad():
        model.lm_head.weight[tok.eos_token_id] += 0.2 * model.lm_head.weight[tok.eos_token_id].sign()
    return model.eval(), tok, rs


def test_step_writes_in_place_and_attends_to_pool_storage(tiny, monkeypatch):
    """The attention reads the pool's own buffers (a view for contiguous slots): the cache is
    neither rebuilt nor concatenated per step, and the buffers are never reallocated."""
    import llm_backend.decode as dec

    model, tok, rs = tiny
    pool = KVPool(model, 3, 32)
    buffers = [t.data_ptr() for t in pool.K + pool.V]
    for p in ([1, 5, 6], [1, 7]):
        s = pool.alloc()
        pool.load(s, pool.prefill(p))
    PoolLayer, _ = dec._pool_cache_classes()
    seen = []
    orig = PoolLayer.update

    def spy(self, k, v, *a, **kw):
        out = orig(self, k, v, *a, **kw)
        seen.append((out[0].untyped_storage().data_ptr(), self.K.untyped_storage().data_ptr(), out[0].shape))
        return out

    monkeypatch.setattr(PoolLayer, "update", spy)
    pool.step([0, 1], [4, 4])
    assert len(seen) == pool.n_layers
    for got, buf, shape in seen:
        assert got == buf                       # a view of the buffer, not a copy
        assert shape[0] == 2 and shape[2] == 4  # window = longest length (3) + the new token
    assert [t.data_ptr() for t in pool.K + pool.V] == buffers
    assert list(pool.lengths[:2]) == [4, 3]


def _full_joint(model, rs, ids):
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits[0, -1]
    return rs.joints(logits).numpy().astype(np.float64).ravel()


def test_questions_batched_together_match_plain_forward(tiny):
    model, tok, rs = tiny
    problems = make_problems(4, seed=5, max_steps=3)
    s = OnlineSampler(model, tok, rs, GRID, cap=3, max_new_tokens=14, seed=1)
    finished = []
    orig = s._finish

    def keep(smp, problem, status):
        orig(smp, problem, status)
        finished.append((smp, problem))

    s._finish = keep
    calls0 = s.pool.forward_calls
    res = s.run_many(problems, MajorityVotePolicy(3), concurrent=3)
    batched_calls = s.pool.forward_calls - calls0
    assert [r.qid for r in res] == [p.qid for p in problems]
    assert s.pool.capacity == 9 and s.pool.n_free == 9
    for r in res:
        assert r.n_started == 3
        assert r.compute_tokens == sum(x["total_tokens"] for x in r.samples)
        assert r.serial_tokens == max(x["total_tokens"] for x in r.samples)
    # every joint recorded at a decision point is the plain forward pass of prompt + tokens
    assert len(finished) == 12
    assert sum(len(smp.tick_tokens) for smp, _ in finished) > 24   # samples ran several ticks
    for smp, p in finished:
        ids = prompt_ids(tok, p)
        for k, n in enumerate(smp.tick_tokens):
            if n < len(smp.tokens) or smp.status != "finished":
                assert np.allclose(smp.joints[k], _full_joint(model, rs, ids + smp.tokens[:n]), atol=2e-5)
    # one question at a time needs more forward passes for the same work
    s1 = OnlineSampler(model, tok, rs, GRID, cap=3, max_new_tokens=14, seed=1)
    c0 = s1.pool.forward_calls
    s1.run_many(problems, MajorityVotePolicy(3), concurrent=1)
    assert batched_calls < s1.pool.forward_calls - c0


def test_ziprc_questions_in_flight_keep_their_own_policy(tiny):
    model, tok, rs = tiny
    cfg = PlannerConfig(rewards=RewardGrid.official(rs.reward_states), lengths=length_grid(GRID),
                        alpha=0.1, beta=0.05, cap=4)
    problems = make_problems(3, seed=9, max_steps=2)
    s = OnlineSampler(model, tok, rs, GRID, cap=4, max_new_tokens=16, seed=2)
    res = s.run_many(problems, ZipRCPolicy(cfg), concurrent=3)
    assert len(res) == 3 and s.pool.n_free == s.pool.capacity
    for r in res:
        assert 1 <= r.n_started <= 4 and r.epochs >= 1 and r.policy_seconds > 0
        assert all(x["question_id"] == r.qid for x in r.samples)
    with pytest.raises(ValueError, match="concurrent"):
        s.run_many(problems, ZipRCPolicy(cfg), concurrent=0)
