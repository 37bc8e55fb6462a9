import numpy as np
import pytest

from metamdp.grids import OFFICIAL_LENGTH_EDGES, GridError, LengthGrid, RewardGrid
from metamdp.joints import (JointError, expected_remaining, expected_value, rebin_lengths, truncate,
                            truncated_lengths, validate_joint)


def test_official_layout():
    g = LengthGrid.official()
    assert g.size == 8
    assert g.token_edges == tuple(float(x) for x in OFFICIAL_LENGTH_EDGES)
    np.testing.assert_allclose(g.representative * 64, [128, 384, 768, 1536, 3072, 6144, 12288, 24576])
    assert np.isinf(g.upper[-1]) and g.upper[0] == 256 / 64
    assert RewardGrid.official(2).values.tolist() == [0.0, 1.0]
    np.testing.assert_allclose(RewardGrid.official(7).values, np.arange(7) / 6)


@pytest.mark.parametrize("tokens,bin_", [(0, 0), (255, 0), (256, 1), (511, 1), (512, 2),
                                          (16384, 7), (32767, 7), (32768, 7), (10**6, 7)])
def test_official_label_rule(tokens, bin_):
    # the official rule: bin k covers [e_k, e_{k+1}); longer lengths clamp to the last bin
    assert LengthGrid.official().tokens_to_bin(tokens) == bin_


def test_tick_grid_and_conversions():
    g = LengthGrid.ticks(5, delta=64)
    assert g.tick_exact and g.representative.tolist() == [1, 2, 3, 4, 5]
    assert g.tokens_to_ticks([0, 1, 64, 65]).tolist() == [0, 1, 1, 2]
    assert g.tokens_to_bin([1, 64, 65, 64 * 9]).tolist() == [0, 0, 1, 4]
    assert g.horizon_label(0) == 1 and g.horizon_label(4) is None


def test_reward_grid_adds_zero_and_rejects_bad_values():
    g = RewardGrid.from_values([0.5, 1.0])
    assert g.values.tolist() == [0.0, 0.5, 1.0] and g.added_zero
    with pytest.raises(GridError, match="strictly increasing"):
        RewardGrid.from_values([0.0, 1.0, 0.5])
    with pytest.raises(GridError, match=r"\[0, 1\]"):
        RewardGrid.from_values([0.0, 2.0])
    with pytest.raises(GridError, match="non-finite"):
        RewardGrid.from_values([0.0, float("nan")])
    with pytest.raises(GridError):
        LengthGrid.ticks(0)
    with pytest.raises(GridError, match="increasing"):
        LengthGrid.binned([0, 10, 5])


def test_validate_joint_errors():
    good = np.full((2, 4), 1 / 8)
    assert validate_joint(good.ravel(), 2, 4).shape == (2, 4)
    with pytest.raises(JointError, match="sums to"):
        validate_joint(good * 1.01)
    with pytest.raises(JointError, match="NaN"):
        bad = good.copy()
        bad[0, 0] = np.nan
        validate_joint(bad)
    with pytest.raises(JointError, match="negative"):
        bad = good.copy()
        bad[0, 0] = -0.1
        bad[0, 1] += 0.1
        validate_joint(bad)
    with pytest.raises(JointError, match="length bins"):
        validate_joint(good, 2, 5)
    with pytest.raises(JointError, match="flat joint has 8 entries"):
        validate_joint(good.ravel(), 3, 4)


def test_truncation_moves_tail_to_zero_reward(rng):
    p = rng.dirichlet(np.ones(12)).reshape(3, 4)
    t = truncate(p, 1)
    assert t.shape == (3, 3)
    np.testing.assert_allclose(t[:, :2], p[:, :2])
    assert t[0, 2] == pytest.approx(p[:, 2:].sum()) and np.all(t[1:, 2] == 0)
    assert t.sum() == pytest.approx(1.0)
    np.testing.assert_array_equal(truncate(p, 3), p)  # last index = never prune
    g = LengthGrid.ticks(4)
    assert truncated_lengths(g, 1).tolist() == [1, 2, 2]


def test_expectations_and_rebinning(rng):
    p = rng.dirichlet(np.ones(3 * 6)).reshape(3, 6)
    r = RewardGrid.from_values([0, 0.5, 1])
    tick = LengthGrid.ticks(6)
    assert expected_value(p, r) == pytest.approx(p.sum(1) @ [0, 0.5, 1])
    assert expected_remaining(p, tick) == pytest.approx(p.sum(0) @ np.arange(1, 7))
    coarse = LengthGrid.binned([64, 128, 256, 512], delta=64)  # ticks [1,2), [2,4), [4,8+)
    q = rebin_lengths(p, tick, coarse)
    np.testing.assert_allclose(q.sum(0), [p.sum(0)[0], p.sum(0)[1:3].sum(), p.sum(0)[3:].sum()])
    np.testing.assert_allclose(q.sum(1), p.sum(1))
