"""Order-statistic kernels against brute-force enumeration and the NumPy reference."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from metamdp.order_stats import (expected_max, expected_max_iid, expected_max_iid_reference,
                                 expected_max_reference, expected_sum, expected_sum_reference)

from ..oracles import expected_max_brute_force


@st.composite
def variables(draw, max_vars=4, max_points=5):
    n_points = draw(st.integers(1, max_points))
    x = np.sort(np.array(draw(st.lists(st.floats(0, 10, allow_nan=False), min_size=n_points,
                                       max_size=n_points))))
    k = draw(st.integers(0, max_vars))
    seed = draw(st.integers(0, 2**32 - 1))
    g = np.random.default_rng(seed)
    pmfs = g.dirichlet(np.full(n_points, 0.5), size=k) if k else np.zeros((0, n_points))
    # exact zeros happen in practice (impossible outcomes): keep some
    if k:
        pmfs[g.random(pmfs.shape) < 0.2] = 0.0
        pmfs[:, -1] += 1.0 - pmfs.sum(axis=1)
        pmfs = np.maximum(pmfs, 0)
        pmfs /= pmfs.sum(axis=1, keepdims=True)
    mult = g.integers(0, 3, size=k)
    floor = int(draw(st.integers(-1, n_points - 1)))
    return x, pmfs, mult, floor


@given(variables())
def test_expected_max_matches_enumeration_and_reference(case):
    x, pmfs, mult, floor = case
    exact = expected_max_brute_force(x, pmfs, mult, None if floor < 0 else x[floor])
    if pmfs.shape[0] == 0 or mult.sum() == 0:
        exact = 0.0 if floor < 0 else x[floor]
    assert expected_max(x, pmfs, mult, floor) == pytest.approx(exact, abs=1e-12)
    assert expected_max_reference(x, pmfs, mult, floor) == pytest.approx(exact, abs=1e-12)


@given(variables(max_vars=3))
def test_adding_a_sample_never_lowers_the_expected_max(case):
    x, pmfs, mult, floor = case
    if pmfs.shape[0] == 0:
        return
    base = expected_max(x, pmfs, mult, floor)
    for i in range(pmfs.shape[0]):
        more = mult.copy()
        more[i] += 1
        assert expected_max(x, pmfs, more, floor) >= base - 1e-12


@given(variables(max_vars=1), st.integers(0, 6))
def test_iid_power_form_equals_product_form(case, m):
    x, pmfs, _, floor = case
    if pmfs.shape[0] == 0:
        return
    p = pmfs[0]
    product = expected_max(x, np.repeat(p[None, :], m, axis=0), np.ones(m, dtype=np.int64), floor) \
        if m else (0.0 if floor < 0 else x[floor])
    assert expected_max_iid(x, p, m, floor) == pytest.approx(product, abs=1e-12)
    assert expected_max_iid_reference(x, p, m, floor) == pytest.approx(product, abs=1e-12)


@given(variables())
def test_expected_sum(case):
    x, pmfs, mult, _ = case
    want = sum(m * (p @ x) for p, m in zip(pmfs, mult))
    assert expected_sum(x, pmfs, mult) == pytest.approx(want, abs=1e-12)
    assert expected_sum_reference(x, pmfs, mult) == pytest.approx(want, abs=1e-12)


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="sorted"):
        expected_max([2.0, 1.0], [[0.5, 0.5]])
    with pytest.raises(ValueError, match="points"):
        expected_max([1.0, 2.0, 3.0], [[0.5, 0.5]])
    with pytest.raises(ValueError, match="floor_index"):
        expected_max([1.0, 2.0], [[0.5, 0.5]], floor_index=5)
