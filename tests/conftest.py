"""Shared test set-up: Hypothesis profiles and small helpers.

``HYPOTHESIS_PROFILE=ci`` (the default) is deterministic: derandomised, no deadline, no
example database, so CI is reproducible. ``HYPOTHESIS_PROFILE=long`` draws fresh random
examples, many more of them, for deep runs of the theorem checks.
"""

import os
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", derandomize=True, deadline=None, database=None, max_examples=100,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile(
    "long", derandomize=False, deadline=None, max_examples=2000,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("dev", derandomize=False, deadline=None, max_examples=100)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# quantecon warns that beta = 1 disables infinite-horizon methods; we only use backward induction
warnings.filterwarnings("ignore", message="infinite horizon solution methods are disabled")


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
