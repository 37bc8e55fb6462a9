"""Synthetic benchmark suites whose exact posterior joint is computable at every tick.

The world (documented with its calibration in ``docs/simulators.md``)
--------------------------------------------------------------------
A suite is a fixed list of questions. Question ``q`` has a pass rate ``p_q`` (a quantile of
the suite's Beta distribution, so the suite is the same for every seed) and a difficulty
``d_q = 1 - p_q``. A sample of ``q`` is a latent process:

* it is **correct** with probability ``p_q``; its **class** ``k`` is one of the reward states
  ``v_1 < ... < v_B`` (the final value the model's head reports when the sample ends), drawn
  from ``HIGH`` if correct and ``LOW`` if wrong, so ``pi_q = p_q * HIGH + (1 - p_q) * LOW``
  and ``P(correct | k) = p_q HIGH_k / pi_qk`` (the value is informative but not an oracle:
  the profiles overlap as much as the paper's Table 1 says a real head's do). With the
  binary layout ``v = {0, 1}`` the value *is* correctness (``HIGH = [0, 1]``);
* its **length** ``N`` (ticks of ``delta = 64`` tokens) is a discretised log-normal,
  ``N = clip(ceil(exp(Y)), 1, T_max)``, ``Y ~ Normal(log m_q + gamma * (1 - v_k), sigma)``:
  failures run longer (``gamma > 0``) and hard questions are longer
  (``m_q = m_suite * exp(eta * (d_q - mean d))``);
* while it runs it emits one signal per tick, ``x_t ~ Normal(mu_k, 1)`` with
  ``mu_k = kappa_q * (v_k - 1/2)`` and ``kappa_q = info / sqrt(m_q)``: information about
  its own success arrives gradually (about ``info^2`` units of evidence by its median
  length), and not finishing yet is itself evidence (failures are longer).

Given the prefix (elapsed ticks ``t``, signal sum ``X = sum x``) the exact posterior joint
over (final value, remaining-length bin) is

``p[k, l] = w_k * (S_k(t + r_lo(l) - 1) - S_k(t + r_hi(l))) / S_k(t)``,
``w_k ∝ pi_k * S_k(t) * exp(mu_k * X - t * mu_k^2 / 2)``,

with ``S_k(x) = P(N > x | k)`` and ``[r_lo(l), r_hi(l)]`` the remaining ticks of length bin
``l``. This is what an ideal ZIP-RC head predicts. A sample branched from a prefix draws its
class from that prefix's posterior ``w`` and its length conditioned on ``N > t``, so branches
are conditionally independent given the prefix, exactly as the planner assumes.

Wrong answers come from a per-question distractor distribution over ``A`` answers with
geometric weights ``w_j ∝ r^j``: ``r -> 0`` puts every wrong answer on one distractor (voting
fails), ``r -> 1`` spreads them (voting works). ``r`` is the ``distractor_spread`` knob.

Randomness is counter-based (a SplitMix64 hash of (episode seed, sample, purpose, tick)), so a
sample's whole future is fixed by its episode seed and index whatever the policy does: every
policy sees the same samples (common random numbers), and runs are reproducible from a seed.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace

import numpy as np
from numba import njit
from scipy import special, stats

from metamdp.grids import OFFICIAL_LENGTH_EDGES, LengthGrid, RewardGrid

SUITES = ("gsm8k", "math500", "amc23", "aime24", "mixed")
T_MAX_TOKENS = 32768
DELTA = 64


class WorldError(ValueError):
    """Bad suite name or world parameter."""


@dataclass(frozen=True)
class SuiteSpec:
    """Parameters of one benchmark suite (see the module docstring for their meaning).

    Attributes
    ----------
    name : str
    n_questions : int
        Questions in the suite (the real benchmark sizes by default).
    pass_a, pass_b : float
        Beta distribution of question pass rates (questions are its quantiles).
    median_ticks : float
        Median length (ticks) of a successful sample on a question of average difficulty.
    eta : float
        Log-length slope in difficulty (hard questions are longer).
    gamma : float
        Log-length excess of a value-0 sample over a value-1 sample (failures run longer).
    sigma : float
        Log-normal dispersion of lengths.
    info : float
        Evidence rate: signal separation between value 1 and value 0 is ``info / sqrt(m_q)``
        per tick.
    distractor_spread : float
        Geometric ratio of the distractor weights (0: one wrong answer, 1: uniform).
    n_distractors : int
        Number of distinct wrong answers.
    unsolvable : float
        Fraction of questions no sample solves (pass rate 0: too hard, or a wrong gold
        label). Pass rates are the quantiles of ``unsolvable * delta_0 + (1 - unsolvable) *
        Beta(pass_a, pass_b)``. Default 0 (the original world).
    value_share : float
        How much of the final value is about the *question* rather than the *sample*
        (``lambda`` in [0, 1]): with probability ``lambda`` a sample's value state is drawn
        from the question's prior whatever its correctness, else from ``HIGH``/``LOW``. The
        class prior is unchanged; ``P(correct | k) = lambda p + (1 - lambda) p HIGH_k / pi_k``.
        A head that mostly knows how hard the question is (errors shared by all samples of
        it) ranks the samples of one question poorly. Default 0.
    length_spread : float
        Standard deviation of a question-level log-length factor independent of difficulty
        (real questions differ in length for reasons other than difficulty). Default 0.
    high_tilt, low_tilt : float
        Sharpen (> 0) or flatten (< 0) the value profiles: ``HIGH ∝ HIGH_7 exp(high_tilt v)``,
        ``LOW ∝ LOW_7 exp(-low_tilt v)`` (fitted to the paper's Table 1). Default 0.
    """

    name: str
    n_questions: int
    pass_a: float
    pass_b: float
    median_ticks: float
    eta: float = 1.0
    gamma: float = 0.6
    sigma: float = 0.45
    info: float = 2.0
    distractor_spread: float = 0.5
    n_distractors: int = 16
    unsolvable: float = 0.0
    value_share: float = 0.0
    length_spread: float = 0.0
    high_tilt: float = 0.0
    low_tilt: float = 0.0


# The original world, hand-calibrated so that majority voting at generation cost ~1.4
# (alpha = 0.1) matches the paper's Table 2 majority-vote row; every value-based policy gains
# far more here than in the paper (docs/simulators.md section 9 says why).
ORIGINAL_SPECS = {
    "gsm8k": SuiteSpec("gsm8k", 1319, pass_a=4.0, pass_b=0.4, median_ticks=22.0,
                       distractor_spread=0.55),
    "math500": SuiteSpec("math500", 500, pass_a=4.0, pass_b=0.3, median_ticks=50.0,
                         distractor_spread=0.55),
    "amc23": SuiteSpec("amc23", 40, pass_a=2.3, pass_b=0.4, median_ticks=100.0,
                       distractor_spread=0.6),
    "aime24": SuiteSpec("aime24", 30, pass_a=0.9, pass_b=0.9, median_ticks=150.0,
                        distractor_spread=0.7),
}

# Fitted worlds: the output of ``ziprc study --fit --preset NAME`` (simulators/worldfit.py),
# as changes to the original specs. Per benchmark, ``pass_a``/``pass_b`` (mean fitted to the
# paper's majority-vote row, concentration a + b = 1 assumed); shared: the value-profile
# tilts (fitted to Table 1), ``unsolvable``, ``value_share`` and ``length_spread`` (assumed,
# documented in docs/simulators.md section 9).
_QWEN_SHARED = dict(value_share=0.5, length_spread=0.5, high_tilt=-0.031726609273265,
                    low_tilt=4.753952196801874)
PRESET_CHANGES = {
    "original": {},
    "qwen3-1.7b": {
        "gsm8k": dict(pass_a=0.9176422773013524, pass_b=0.0823577226986476, unsolvable=0.02,
                      **_QWEN_SHARED),
        "math500": dict(pass_a=0.937822282927095, pass_b=0.06217771707290498, unsolvable=0.02,
                        **_QWEN_SHARED),
        "amc23": dict(pass_a=0.8552217577284199, pass_b=0.1447782422715801, **_QWEN_SHARED),
        "aime24": dict(pass_a=0.4905116900747119, pass_b=0.509488309925288, **_QWEN_SHARED),
    },
}
# LFM2-350M-Math: the Qwen3 fit's benchmarks with every mean pass rate moved by one logit
# shift (its mixed majority vote, 68.8 at cost 1.70, is the only published MV number) and
# the value profiles refitted to its Table 1 row
_LFM2_SHARED = dict(value_share=0.5, length_spread=0.5, high_tilt=-1.5229709845513086,
                    low_tilt=6.782881981898687)
PRESET_CHANGES["lfm2-350m"] = {
    "gsm8k": dict(pass_a=0.6424264885919081, pass_b=0.3575735114080919, unsolvable=0.02,
                  **_LFM2_SHARED),
    "math500": dict(pass_a=0.7086300428787448, pass_b=0.29136995712125524, unsolvable=0.02,
                    **_LFM2_SHARED),
    "amc23": dict(pass_a=0.48783580420477285, pass_b=0.5121641957952272, **_LFM2_SHARED),
    "aime24": dict(pass_a=0.13437914272499513, pass_b=0.8656208572750048, **_LFM2_SHARED),
}
DEFAULT_PRESET = "qwen3-1.7b"


def preset_specs(name: str) -> dict:
    """Benchmark name -> :class:`SuiteSpec` of a world preset (see :data:`PRESET_CHANGES`)."""
    if name not in PRESET_CHANGES:
        raise WorldError(f"unknown world preset {name!r}; choose from {', '.join(PRESET_CHANGES)}")
    ch = PRESET_CHANGES[name]
    return {n: replace(s, **ch.get(n, {})) for n, s in ORIGINAL_SPECS.items()}


PRESETS = tuple(PRESET_CHANGES)
SUITE_SPECS = preset_specs(DEFAULT_PRESET)

# Value profiles of the 7-state head: where "sound" and "failing" samples end up.
# P(final value state | correct) and P(final value state | wrong): at threshold 1/2 the head
# flags 82% of wrong answers and passes 93% of right ones (the paper's Table 1 reports 0.82
# recall on incorrect answers and 0.91 accuracy for Qwen3-1.7B).
HIGH_7 = np.array([0.01, 0.02, 0.04, 0.07, 0.12, 0.22, 0.52])
LOW_7 = np.array([0.45, 0.22, 0.15, 0.08, 0.05, 0.03, 0.02])


@dataclass(frozen=True)
class Corruption:
    """How the predictions a policy sees differ from the exact posterior.

    Attributes
    ----------
    temperature : float
        Joint raised to ``1 / temperature`` and renormalised (>1 flattens, <1 sharpens).
    noise : float
        Log-normal multiplicative noise on every entry, fresh at every tick (std of the log).
    optimism : float
        Tilt of the reward marginal by ``exp(optimism * v)`` (positive: overconfident).
    lag_ticks : int
        Staleness: the prediction made ``lag_ticks`` ticks ago.
    window_ticks : int
        Causal moving average of the predictions over the last ``window_ticks`` ticks
        (the authors' W = 512 tokens is 8 ticks of 64); 1 = none.
    coarse_factor : int
        Merge this many adjacent length bins (1 = official 8 bins, 2 = 4 bins, ...).
    correlation : float
        Probability that a sample shares its question-episode's class instead of drawing
        its own (samples become dependent; each marginal stays exact).
    value_noise : float
        Probability that a finished sample *reports* a value state redrawn from the
        question's prior instead of its own (the final value becomes less informative; its
        distribution is unchanged).
    """

    temperature: float = 1.0
    noise: float = 0.0
    optimism: float = 0.0
    lag_ticks: int = 0
    window_ticks: int = 1
    coarse_factor: int = 1
    correlation: float = 0.0
    value_noise: float = 0.0

    def __post_init__(self):
        if not self.temperature > 0:
            raise WorldError(f"temperature must be > 0, got {self.temperature!r}")
        if not self.noise >= 0:
            raise WorldError(f"noise must be >= 0, got {self.noise!r}")
        if not np.isfinite(self.optimism):
            raise WorldError(f"optimism must be finite, got {self.optimism!r}")
        if int(self.lag_ticks) != self.lag_ticks or self.lag_ticks < 0:
            raise WorldError(f"lag_ticks must be an integer >= 0, got {self.lag_ticks!r}")
        if int(self.window_ticks) != self.window_ticks or self.window_ticks < 1:
            raise WorldError(f"window_ticks must be an integer >= 1, got {self.window_ticks!r}")
        if self.coarse_factor not in (1, 2, 4, 8):
            raise WorldError(f"coarse_factor must be 1, 2, 4 or 8, got {self.coarse_factor!r}")
        if not 0.0 <= self.correlation <= 1.0:
            raise WorldError(f"correlation must be in [0, 1], got {self.correlation!r}")
        if not 0.0 <= self.value_noise <= 1.0:
            raise WorldError(f"value_noise must be in [0, 1], got {self.value_noise!r}")

    @property
    def is_exact(self) -> bool:
        return self == Corruption()


@dataclass
class World:
    """A suite instantiated as plain arrays (what the Numba kernels read).

    Attributes
    ----------
    values : (B,) reward grid; ``class_prior`` (Q, B); ``log_median`` (Q, B) log-median
    length per class (ticks); ``sigma`` (Q,); ``signal_mean`` (Q, B) per-tick signal mean;
    ``distractor_cdf`` (Q, A) cumulative distractor weights; ``mean_ticks`` (Q,) exact mean
    length of one sample (``Lbar`` in ticks); ``pass_rate`` (Q,) exact pass@1;
    ``difficulty`` (Q,); ``correct_prob`` (Q, B) P(correct | final value state);
    ``source`` (Q,) index into ``source_names`` (the benchmark a
    question of the mixed suite comes from); ``r_lo``/``r_hi`` (L,) remaining ticks covered
    by each official length bin; ``t_max`` ticks.
    """

    name: str
    values: np.ndarray
    class_prior: np.ndarray
    correct_prob: np.ndarray
    log_median: np.ndarray
    sigma: np.ndarray
    signal_mean: np.ndarray
    distractor_cdf: np.ndarray
    mean_ticks: np.ndarray
    pass_rate: np.ndarray
    difficulty: np.ndarray
    source: np.ndarray
    source_names: tuple
    r_lo: np.ndarray
    r_hi: np.ndarray
    t_max: int
    delta: int
    length_edges: tuple
    specs: tuple = field(default_factory=tuple)

    @property
    def n_questions(self) -> int:
        return int(self.class_prior.shape[0])

    @property
    def reward_grid(self) -> RewardGrid:
        return RewardGrid.from_values(self.values)

    @property
    def length_grid(self) -> LengthGrid:
        return LengthGrid.binned(self.length_edges, delta=self.delta)

    def subset(self, idx) -> "World":
        """The world restricted to questions ``idx`` (arrays copied)."""
        idx = np.asarray(idx, dtype=np.int64)
        kw = {}
        for name in ("class_prior", "correct_prob", "log_median", "sigma", "signal_mean", "distractor_cdf",
                     "mean_ticks", "pass_rate", "difficulty", "source"):
            kw[name] = np.ascontiguousarray(getattr(self, name)[idx])
        return replace(self, **kw)

    def params(self) -> dict:
        """JSON-ready description (for provenance)."""
        return {"name": self.name, "n_questions": self.n_questions,
                "reward_states": int(self.values.size), "delta": self.delta,
                "length_edges": list(self.length_edges), "t_max_ticks": self.t_max,
                "suites": [asdict(s) for s in self.specs]}


def suite_spec(name: str, **overrides) -> SuiteSpec:
    if name not in SUITE_SPECS:
        raise WorldError(f"unknown suite {name!r}; choose one of {', '.join(SUITES)}")
    try:
        return replace(SUITE_SPECS[name], **overrides)
    except TypeError as e:
        raise WorldError(f"bad suite parameter: {e}") from None


def suite_size(suite: str) -> int:
    """Questions of the full suite (``mixed``: the four benchmarks together)."""
    if suite not in SUITES:
        raise WorldError(f"unknown suite {suite!r}; choose one of {', '.join(SUITES)}")
    names = ("gsm8k", "math500", "amc23", "aime24") if suite == "mixed" else (suite,)
    return sum(suite_spec(n).n_questions for n in names)


def check_questions(suite: str, n_questions, option: str = "--questions") -> None:
    """A user's question count must fit the suite (the library may draw more quantiles; a
    command line asking for more questions than a benchmark has is a mistake)."""
    if n_questions is not None and n_questions > suite_size(suite):
        raise WorldError(f"{option} {n_questions} exceeds the {suite} suite's "
                         f"{suite_size(suite)} questions")


def build_world(suite: str = "mixed", reward_states: int = 7, n_questions: int | None = None,
                delta: int = DELTA, length_edges=OFFICIAL_LENGTH_EDGES, specs: dict | None = None,
                preset: str | None = None, **overrides) -> World:
    """Instantiate a suite.

    Parameters
    ----------
    suite : str
        One of :data:`SUITES`; ``mixed`` concatenates the four benchmarks.
    reward_states : int
        2 (correctness head, value = correctness) or 7 (value head, the default).
    n_questions : int, optional
        Keep this many questions (an evenly spaced subset of the pass-rate quantiles, and
        for ``mixed`` in proportion to the benchmark sizes, at least one each).
    delta : int
        Tokens per tick.
    specs : dict, optional
        Benchmark name -> :class:`SuiteSpec` to use instead of :data:`SUITE_SPECS` (e.g. a
        fit in progress, :mod:`simulators.worldfit`).
    preset : str, optional
        A world preset (:data:`PRESETS`): ``qwen3-1.7b`` (the default, fitted to the paper's
        majority-vote row and Table 1), ``lfm2-350m``, ``original`` (the first world).
    **overrides
        Replace :class:`SuiteSpec` fields for every benchmark in the suite (e.g.
        ``info=1.0``, ``distractor_spread=0.2``).
    """
    if suite not in SUITES:
        raise WorldError(f"unknown suite {suite!r}; choose one of {', '.join(SUITES)}")
    if reward_states not in (2, 7):
        raise WorldError(f"reward_states must be 2 or 7, got {reward_states!r}")
    if n_questions is not None and (int(n_questions) != n_questions or n_questions < 1):
        raise WorldError(f"n_questions must be a positive integer, got {n_questions!r}")
    names = ("gsm8k", "math500", "amc23", "aime24") if suite == "mixed" else (suite,)
    if specs is None and preset is not None:
        specs = preset_specs(preset)
    if specs is None:
        specs = [suite_spec(n, **overrides) for n in names]
    else:
        try:
            specs = [replace(specs[n], **overrides) for n in names]
        except KeyError as e:
            raise WorldError(f"specs lack benchmark {e}") from None
        except TypeError as e:
            raise WorldError(f"bad suite parameter: {e}") from None
    sizes = [s.n_questions for s in specs]
    if n_questions is not None:
        total = sum(sizes)
        if suite == "mixed":
            if n_questions < len(specs):
                raise WorldError(f"the mixed suite needs at least {len(specs)} questions")
            sizes = [max(1, int(round(n_questions * s / total))) for s in sizes]
            # fix rounding so the total is exact: adjust the largest benchmark
            sizes[0] += int(n_questions) - sum(sizes)
        else:
            sizes = [int(n_questions)]
    t_max = int(T_MAX_TOKENS // delta)
    values = RewardGrid.official(reward_states).values.copy()
    parts = [_build_benchmark(s, n, values, t_max) for s, n in zip(specs, sizes)]
    cat = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    source = np.concatenate([np.full(n, i, dtype=np.int64) for i, n in enumerate(sizes)])
    r_lo, r_hi = remaining_tick_ranges(length_edges, delta, t_max)
    return World(name=suite, values=values, class_prior=cat["class_prior"],
                 correct_prob=cat["correct_prob"],
                 log_median=cat["log_median"], sigma=cat["sigma"],
                 signal_mean=cat["signal_mean"], distractor_cdf=cat["distractor_cdf"],
                 mean_ticks=cat["mean_ticks"], pass_rate=cat["pass_rate"],
                 difficulty=cat["difficulty"], source=source, source_names=tuple(names),
                 r_lo=r_lo, r_hi=r_hi, t_max=t_max, delta=int(delta),
                 length_edges=tuple(float(x) for x in length_edges), specs=tuple(specs))


def remaining_tick_ranges(length_edges, delta: int, t_max: int):
    """For each length bin, the first and last remaining tick count it holds.

    Remaining ``r`` ticks are ``r * delta`` tokens, binned by the official rule
    (bin ``l`` holds ``[e_l, e_{l+1})``, the last bin open-ended). Empty bins get
    ``r_lo > r_hi``.
    """
    edges = np.asarray(length_edges, dtype=np.float64)
    r = np.arange(1, t_max + 1)
    bins = np.searchsorted(edges[1:-1], r * delta, side="right")
    L = edges.size - 1
    r_lo = np.full(L, t_max + 1, dtype=np.int64)
    r_hi = np.zeros(L, dtype=np.int64)
    for l in range(L):
        sel = r[bins == l]
        if sel.size:
            r_lo[l], r_hi[l] = sel.min(), sel.max()
    return r_lo, r_hi


def _value_profiles(values, high_tilt: float = 0.0, low_tilt: float = 0.0):
    if values.size == 2:
        return np.array([0.0, 1.0]), np.array([1.0, 0.0])
    high = HIGH_7 * np.exp(high_tilt * (values - 1.0))
    low = LOW_7 * np.exp(-low_tilt * values)
    return high / high.sum(), low / low.sum()


# golden-ratio sequence: a question-level factor that is deterministic (no seed) and nearly
# independent of the question's rank in difficulty
_PHI = 0.6180339887498949


def question_length_factor(n: int) -> np.ndarray:
    """Standard normal scores of ``n`` questions for ``length_spread`` (deterministic)."""
    u = np.mod((np.arange(n) + 0.5) * _PHI + 0.5 / n, 1.0)
    return stats.norm.ppf(np.clip(u, 1e-9, 1 - 1e-9))


def pass_rate_quantiles(spec: "SuiteSpec", n: int) -> np.ndarray:
    """Pass rates of the ``n`` questions: quantiles of the unsolvable mass plus the Beta."""
    quant = (np.arange(n) + 0.5) / n
    u = spec.unsolvable
    inner = np.clip((quant - u) / (1.0 - u), 0.0, 1.0)
    return np.where(quant < u, 0.0, stats.beta.ppf(inner, spec.pass_a, spec.pass_b))


def _build_benchmark(spec: SuiteSpec, n: int, values: np.ndarray, t_max: int) -> dict:
    for name in ("pass_a", "pass_b", "median_ticks", "sigma"):
        if not getattr(spec, name) > 0:
            raise WorldError(f"suite {spec.name}: {name} must be > 0, got {getattr(spec, name)!r}")
    if not 0.0 <= spec.distractor_spread <= 1.0:
        raise WorldError(f"suite {spec.name}: distractor_spread must be in [0, 1]")
    if spec.n_distractors < 1:
        raise WorldError(f"suite {spec.name}: n_distractors must be >= 1")
    for name in ("unsolvable", "value_share"):
        v = getattr(spec, name)
        if not 0.0 <= v <= (0.999 if name == "unsolvable" else 1.0):
            raise WorldError(f"suite {spec.name}: {name} must be in [0, 1), got {v!r}")
    if not spec.length_spread >= 0:
        raise WorldError(f"suite {spec.name}: length_spread must be >= 0, got {spec.length_spread!r}")
    for name in ("high_tilt", "low_tilt"):
        if not np.isfinite(getattr(spec, name)):
            raise WorldError(f"suite {spec.name}: {name} must be finite")
    # questions = quantiles of the pass-rate distribution (the suite does not depend on a seed)
    latent = pass_rate_quantiles(spec, n)
    high, low = _value_profiles(values, spec.high_tilt, spec.low_tilt)
    prior = latent[:, None] * high[None, :] + (1.0 - latent[:, None]) * low[None, :]
    prior /= prior.sum(axis=1, keepdims=True)
    pass_rate = latent.copy()
    lam = spec.value_share
    # with probability lam the value state is the question's prior draw, whatever the
    # correctness: the prior over classes is unchanged, P(correct | k) moves towards p
    correct_prob = lam * latent[:, None] + (1.0 - lam) * latent[:, None] * high[None, :] \
        / np.maximum(prior, 1e-300)
    correct_prob = np.clip(correct_prob, 0.0, 1.0)
    difficulty = 1.0 - pass_rate
    mean_d = 1.0 - (1.0 - spec.unsolvable) * (spec.pass_a / (spec.pass_a + spec.pass_b))
    log_m = np.log(spec.median_ticks) + spec.eta * (difficulty - mean_d)
    if spec.length_spread > 0:
        log_m = log_m + spec.length_spread * question_length_factor(n)
    log_median = log_m[:, None] + spec.gamma * (1.0 - values[None, :])
    kappa = spec.info / np.sqrt(np.exp(log_m))
    signal_mean = kappa[:, None] * (values[None, :] - 0.5)
    sigma = np.full(n, spec.sigma)
    w = spec.distractor_spread ** np.arange(spec.n_distractors, dtype=np.float64)
    cdf = np.cumsum(w / w.sum())
    cdf[-1] = 1.0
    distractor_cdf = np.tile(cdf, (n, 1))
    surv = survival_tables_reference(log_median, sigma, t_max)  # (n, B, t_max + 1)
    mean_ticks = np.einsum("qb,qbx->q", prior, surv[:, :, :t_max])
    return {"class_prior": prior, "log_median": log_median, "sigma": sigma,
            "signal_mean": signal_mean, "distractor_cdf": distractor_cdf,
            "mean_ticks": mean_ticks, "pass_rate": pass_rate, "difficulty": difficulty,
            "correct_prob": correct_prob}


def survival_tables_reference(log_median, sigma, t_max: int) -> np.ndarray:
    """``S[q, k, x] = P(N > x | class k)`` for ``x = 0..t_max`` (NumPy/SciPy reference)."""
    x = np.arange(t_max + 1, dtype=np.float64)
    with np.errstate(divide="ignore"):
        lx = np.log(np.maximum(x, 1e-300))
    z = (lx[None, None, :] - log_median[:, :, None]) / (np.asarray(sigma)[:, None, None] * np.sqrt(2.0))
    s = 0.5 * special.erfc(z)
    s[:, :, 0] = 1.0
    s[:, :, t_max] = 0.0
    return s


# --------------------------------------------------------------------------- counter-based RNG

_GOLD = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_INV53 = 1.0 / 9007199254740992.0

# purposes of the hashed streams
P_CLASS, P_LEN1, P_LEN2, P_CORRECT, P_ANSWER, P_SIG1, P_SIG2 = 0, 1, 2, 3, 4, 5, 6
P_CONF1, P_CONF2, P_RM1, P_RM2, P_SHARE, P_SHARED_CLASS, P_NOISE = 7, 8, 9, 10, 11, 12, 13
P_VALUE, P_VALUE2 = 14, 15


@njit(cache=True, inline="always")  # tiny: inlined, not compiled once per literal argument
def _mix64(z):
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


@njit(cache=True, inline="always")  # tiny: inlined, not compiled once per literal argument
def hash_uniform(seed, stream, tick):
    """Uniform in (0, 1) from (episode seed, stream, tick); stateless and reproducible."""
    k = _mix64(np.uint64(seed) + _GOLD * np.uint64(stream + 1))
    k = _mix64(k ^ (_GOLD * np.uint64(tick + 1)))
    return (float(k >> np.uint64(11)) + 0.5) * _INV53


@njit(cache=True)
def hash_normal(seed, stream1, stream2, tick):
    """Standard normal (Box-Muller) from two hashed uniforms."""
    u1 = hash_uniform(seed, stream1, tick)
    u2 = hash_uniform(seed, stream2, tick)
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


@njit(cache=True, inline="always")  # tiny: inlined, not compiled once per literal argument
def stream_id(sample, purpose):
    return sample * 16 + purpose


@njit(cache=True)
def ndtri(p):
    """Inverse standard normal CDF (Acklam's rational approximation + one Halley step)."""
    a = (-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
         1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00)
    b = (-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
         6.680131188771972e+01, -1.328068155288572e+01)
    c = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
         -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00)
    d = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
         3.754408661907416e+00)
    if p <= 0.0:
        return -np.inf
    if p >= 1.0:
        return np.inf
    plow = 0.02425
    if p < plow:
        q = math.sqrt(-2.0 * math.log(p))
        x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / \
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1.0)
    elif p > 1.0 - plow:
        q = math.sqrt(-2.0 * math.log(1.0 - p))
        x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / \
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1.0)
    else:
        q = p - 0.5
        r = q * q
        x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q / \
            (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1.0)
    e = 0.5 * math.erfc(-x / math.sqrt(2.0)) - p
    u = e * math.sqrt(2.0 * math.pi) * math.exp(x * x / 2.0)
    return x - u / (1.0 + x * u / 2.0)


# --------------------------------------------------------------------------- world kernels


@njit(cache=True)
def survival_table(log_median_q, sigma_q, t_max, out):
    """Fill ``out[k, x] = P(N > x | k)``, ``x = 0..t_max``, for one question."""
    B = log_median_q.size
    s2 = sigma_q * math.sqrt(2.0)
    for k in range(B):
        out[k, 0] = 1.0
        for x in range(1, t_max):
            out[k, x] = 0.5 * math.erfc((math.log(x) - log_median_q[k]) / s2)
        out[k, t_max] = 0.0


@njit(cache=True)
def class_posterior(prior_q, signal_mean_q, surv, t, X, out):
    """Posterior class weights of a prefix with ``t`` ticks and signal sum ``X``."""
    B = prior_q.size
    t_max = surv.shape[1] - 1
    tt = t if t < t_max else t_max
    best = -np.inf
    for k in range(B):
        s = surv[k, tt]
        if prior_q[k] > 0.0 and s > 0.0:
            lw = math.log(prior_q[k]) + math.log(s) + signal_mean_q[k] * X \
                - 0.5 * t * signal_mean_q[k] * signal_mean_q[k]
        else:
            lw = -np.inf
        out[k] = lw
        if lw > best:
            best = lw
    tot = 0.0
    for k in range(B):
        w = math.exp(out[k] - best) if out[k] > -np.inf else 0.0
        out[k] = w
        tot += w
    for k in range(B):
        out[k] /= tot


@njit(cache=True)
def exact_joint(prior_q, signal_mean_q, surv, r_lo, r_hi, t, X, w_scratch, out):
    """Exact posterior joint ``out[k, l]`` (reward-major) of a prefix at tick ``t``."""
    B, L = out.shape
    t_max = surv.shape[1] - 1
    class_posterior(prior_q, signal_mean_q, surv, t, X, w_scratch)
    for k in range(B):
        st = surv[k, t] if t <= t_max else 0.0
        for l in range(L):
            if w_scratch[k] == 0.0 or st <= 0.0 or r_lo[l] > r_hi[l]:
                out[k, l] = 0.0
                continue
            a = t + r_lo[l] - 1
            b = t + r_hi[l]
            sa = surv[k, a] if a <= t_max else 0.0
            sb = surv[k, b] if b <= t_max else 0.0
            # the last bin is open-ended: everything beyond its start
            if l == L - 1:
                sb = 0.0
            out[k, l] = w_scratch[k] * (sa - sb) / st
    tot = 0.0
    for k in range(B):
        for l in range(L):
            tot += out[k, l]
    for k in range(B):
        for l in range(L):
            out[k, l] /= tot


@njit(cache=True)
def draw_length(log_median_k, sigma_q, t0, t_max, seed, sample):
    """Total length (ticks) of a sample of class ``k`` conditioned on ``N > t0``."""
    if t0 <= 0:
        z = hash_normal(seed, stream_id(sample, P_LEN1), stream_id(sample, P_LEN2), 0)
        y = log_median_k + sigma_q * z
    else:
        a = (math.log(t0) - log_median_k) / sigma_q
        lo = 0.5 * math.erfc(-a / math.sqrt(2.0))
        u = hash_uniform(seed, stream_id(sample, P_LEN1), 0)
        p = lo + u * (1.0 - lo)
        if p >= 1.0 - 1e-16:
            return t_max
        y = log_median_k + sigma_q * ndtri(p)
    if y > math.log(t_max):
        return t_max
    n = int(math.ceil(math.exp(y)))
    if n <= t0:
        n = t0 + 1
    if n < 1:
        n = 1
    if n > t_max:
        n = t_max
    return n


@njit(cache=True)
def draw_class(weights, u):
    """Inverse-CDF draw from a pmf."""
    c = 0.0
    B = weights.size
    for k in range(B):
        c += weights[k]
        if u < c:
            return k
    for k in range(B - 1, -1, -1):
        if weights[k] > 0:
            return k
    return B - 1


@njit(cache=True)
def draw_answer(correct_prob_q, k, distractor_cdf_q, seed, sample):
    """(correct, answer id) of a sample of class ``k``; answer 0 is the right one."""
    u = hash_uniform(seed, stream_id(sample, P_CORRECT), 0)
    correct = u < correct_prob_q[k]
    if correct:
        return True, 0
    v = hash_uniform(seed, stream_id(sample, P_ANSWER), 0)
    A = distractor_cdf_q.size
    for j in range(A):
        if v < distractor_cdf_q[j]:
            return False, j + 1
    return False, A
