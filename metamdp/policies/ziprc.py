"""ZIP-RC sampling as a policy: the planner's best strategy, first action, every epoch."""

from __future__ import annotations

import math

import numpy as np

from ..planner import (MAX_EXHAUSTIVE_SAMPLES, MAX_PLANNED_SAMPLES, NORMALIZERS, PLANNERS,
                       SEARCHES, PlannerConfig, floor_cdf, stack_joints)
from .base import FLOORS, SELECTIONS, Action, Policy, PolicyConfigError, floor_index
from .kernels import joint_remaining, strategy_expected_best


class ZipRC(Policy):
    """``ziprc``: ZIP-RC sampling (spec section 3).

    Every ``interval`` ticks (and whenever none of the samples it advances is still
    running) it plans: the unfinished samples' joints and the root joint go to the planner
    (``search``: exhaustive, two-prefix or top-k; ``branching`` allows new samples copied
    from a prefix), with the floor at the best finished value (``floor``: the grid value
    rounded ``down`` or the ``nearest``), ``D`` by ``normalizer`` (``fixed``: expected length
    of a fresh sample under the root prediction; ``raw``: 1; ``state``: mean over samples of
    ticks so far plus expected remaining, finished samples' lengths included) and cost
    weights ``alpha``, ``beta``; it advances the first action of the best strategy and
    stops when that is to stop. ``init_k > 0`` starts exactly that many samples at ``t = 0``
    instead of planning. Between plans it keeps advancing the chosen samples.

    ``planner="authors"`` is the authors' research simulator's planner
    (:meth:`metamdp.PlannerConfig.authors`): two-prefix search, the state normaliser, no
    branching, a planned prune charged the next bin's midpoint, dropped samples re-added in
    sample order (these override the knobs). A finished sample that carries a predicted
    reward distribution (attribute ``reward_dist``, ``(B,)``; no driver sets it yet) enters
    E[max] as that distribution, with either planner; otherwise its reported value is the
    floor (``floor`` rule).

    Either the knobs, or a ready :class:`metamdp.PlannerConfig` (``config``) whose alpha,
    beta, cap, search, normalizer, branching, prune charge and ordering are used.
    """

    name = "ziprc"
    #: whether the first decision records what the plan expects (``first_plan``): the
    #: one-stage planner only (the recourse planner's objective has a second stage)
    records_first_plan = True
    selection = "value"
    knob_name = "beta"
    knobs = (0.001, 0.003, 0.01, 0.03, 0.1, 0.2, 0.3, 0.45, 0.6, 0.8)

    def __init__(self, beta: float = 0.01, alpha: float = 0.1, cap: int = 8,
                 search: str = "two-prefix", normalizer: str = "fixed", branching: bool = False,
                 init_k: int = 0, interval: int = 1, floor: str = "down", selection: str = "value",
                 config: PlannerConfig | None = None, planner: str = "ours"):
        if planner not in PLANNERS:
            raise PolicyConfigError(f"policy ziprc: planner must be one of {', '.join(PLANNERS)}, got {planner!r}")
        midpoint, order_code = planner == "authors", 1 if planner == "authors" else 0
        if planner == "authors":
            search, normalizer, branching = "two-prefix", "state", False
        if config is not None:
            beta, alpha, cap = config.beta, config.alpha, config.cap
            search, normalizer, branching = config.search, config.normalizer, config.branching
            midpoint, order_code = config.prune_charge == "midpoint", config.order_code
            planner = config.planner_name
        if floor not in FLOORS:
            raise PolicyConfigError(f"policy ziprc: floor must be one of {', '.join(FLOORS)}, got {floor!r}")
        if selection not in SELECTIONS:
            raise PolicyConfigError(f"policy ziprc: selection must be one of {', '.join(SELECTIONS)}, got {selection!r}")
        if search not in SEARCHES:
            raise PolicyConfigError(f"policy ziprc: search must be one of {', '.join(SEARCHES)}, got {search!r}")
        if normalizer not in NORMALIZERS:
            raise PolicyConfigError(f"policy ziprc: normalizer must be one of {', '.join(NORMALIZERS)}, got {normalizer!r}")
        if not (float(beta) >= 0 and math.isfinite(float(beta))) or not 0 <= float(alpha) <= 1:
            raise PolicyConfigError(f"policy ziprc: need beta >= 0 and alpha in [0, 1], got {beta!r}, {alpha!r}")
        if isinstance(cap, bool) or int(cap) != cap or not 1 <= int(cap) <= MAX_PLANNED_SAMPLES:
            raise PolicyConfigError(f"policy ziprc: cap must be an integer in 1..{MAX_PLANNED_SAMPLES}, "
                                    f"got {cap!r}")
        if int(interval) != interval or interval < 1:
            raise PolicyConfigError(f"policy ziprc: interval must be an integer >= 1 tick, got {interval!r}")
        if int(init_k) != init_k or not 0 <= int(init_k) <= int(cap):
            raise PolicyConfigError(f"policy ziprc: init_k must be in 0..cap, got {init_k!r}")
        if search == "exhaustive" and int(cap) > MAX_EXHAUSTIVE_SAMPLES:
            raise PolicyConfigError(f"policy ziprc: exhaustive search is limited to cap <= "
                                    f"{MAX_EXHAUSTIVE_SAMPLES}")
        self.beta, self.alpha, self.cap = float(beta), float(alpha), int(cap)
        self.search, self.normalizer, self.branching = search, normalizer, bool(branching)
        self.init_k, self.interval = int(init_k), int(interval)
        self.floor, self.selection = floor, selection
        self.planner, self.midpoint, self.order_code = planner, bool(midpoint), int(order_code)
        self._bound = None       # (rewards, lengths, trusted planner) of the last grids seen
        self.reset()

    def reset(self):
        self._adv = set()        # samples the last plan advances
        self._since = 0          # ticks since that plan
        # per question: what does not change between epochs (see _finished, _fixed_d)
        self._fin_done, self._fin = None, None
        self._root, self._root_d = None, 0.0
        self.first_plan = None   # (q, expected best value) of the plan at epoch 0

    def planner_config(self, rewards, lengths) -> PlannerConfig:
        """This policy's planner on the grids ``rewards``, ``lengths``."""
        return PlannerConfig(rewards, lengths, alpha=self.alpha, beta=self.beta, cap=self.cap,
                             search=self.search, normalizer=self.normalizer,
                             branching=self.branching,
                             prune_charge="midpoint" if self.midpoint else "edge",
                             ordering="authors" if self.order_code else "ours")

    def trusted_planner(self, config: PlannerConfig):
        """The decision path for ``config`` (:class:`metamdp.planner.TrustedPlanner`; the
        recourse subclass returns its own)."""
        return config.trusted

    def _planner(self, rewards, lengths):
        """The trusted planner on these grids, built once per pair of grid objects (held, so
        that the identity test cannot see a recycled id)."""
        bound = self._bound
        if bound is None or bound[0] is not rewards or bound[1] is not lengths:
            config = self.planner_config(rewards, lengths)
            bound = (rewards, lengths, self.trusted_planner(config), config._kernel_grids)
            self._bound = bound
        return bound[2]

    def prepare(self, rewards, lengths):
        """Load (or compile) the planner now, so that decisions are timed warm."""
        B, L = rewards.size, lengths.size
        flat = np.full((1, B, L), 1.0 / (B * L))
        self._planner(rewards, lengths).best(flat, 0, 1, np.ones(B), 1.0)

    def finished_factor(self, view, B: int) -> np.ndarray:
        """Product of the finished samples' reward CDFs: a predicted distribution where a
        sample carries one (``reward_dist``), else its reported value as a floor."""
        floor = 0
        fin = np.ones(B)
        for s in view.finished:
            if s.status != "finished":
                continue
            dist = getattr(s, "reward_dist", None)
            if dist is None:
                floor = max(floor, floor_index(s.value, view.rewards, self.floor))
            else:
                fin *= np.minimum(np.cumsum(np.asarray(dist, dtype=np.float64)), 1.0)
        return fin * floor_cdf(B, floor)

    def _finished(self, view, B: int) -> np.ndarray:
        """:meth:`finished_factor`, computed again only when the finished samples changed:
        a finished sample's value and prediction no longer change (:meth:`reset` clears it)."""
        done = [s for s in view.finished if s.status == "finished"]
        last = self._fin_done
        if last is None or len(done) != len(last) or any(a is not b for a, b in zip(done, last)):
            self._fin_done, self._fin = done, self.finished_factor(view, B)
        return self._fin

    def _fixed_d(self, view, stacked, rep) -> float:
        """``D`` of a fresh sample under the root prediction, once per question's root joint
        (held, so that the identity test cannot see a recycled id)."""
        if self._root is not view.root_joint:
            self._root, self._root_d = view.root_joint, joint_remaining(stacked[-1], rep)
        return self._root_d

    def normalizer_value(self, view, stacked, rep) -> float:
        """``D`` at this epoch (the same arithmetic as the simulators' kernel)."""
        if self.normalizer == "raw":
            return 1.0
        d_fixed = self._fixed_d(view, stacked, rep)
        if self.normalizer == "fixed":
            return d_fixed
        tot = 0.0
        cnt = 0
        for j, s in enumerate(view.unfinished):
            tot += s.elapsed_ticks + joint_remaining(stacked[j], rep)
            cnt += 1
        for s in view.finished:
            if s.status == "finished":
                tot += s.elapsed_ticks
                cnt += 1
        return tot / cnt if cnt > 0 else d_fixed

    def __call__(self, view):
        still = [s.sid for s in view.unfinished if s.sid in self._adv]
        if self._since < self.interval and still:
            self._since += 1
            return Action(keep=still)
        cap = self.cap if view.cap is None else min(self.cap, int(view.cap))
        max_new = max(0, cap - view.n_created)
        unf = view.unfinished
        n = len(unf)
        if self.init_k > 0 and view.n_created == 0:
            mask, m, src = 0, min(self.init_k, max_new), -1
        else:
            # the trusted path: the driver's joints are valid, the grids' kernel arrays and
            # the finished factor are reused, so a decision costs about its kernel
            planner = self._planner(view.rewards, view.lengths)
            stacked = stack_joints([s.joint for s in unf], view.root_joint)
            d = self.normalizer_value(view, stacked, view.lengths.representative)
            fin = self._finished(view, view.rewards.size)
            best = planner.best(stacked, n, max_new, fin, d)
            mask, m, src = int(best[2]), int(best[3]), int(best[4])
            if view.epoch == 0 and self.records_first_plan:   # what the planner expects at the start
                values, rep, upper = self._bound[3]
                self.first_plan = (float(best[0]), float(strategy_expected_best(
                    values, rep, upper, stacked, np.int64(n), fin, best)))
        if mask == 0 and m == 0:
            return Action(keep=[])
        keep = [unf[j].sid for j in range(n) if (mask >> j) & 1]
        self._adv = set(keep) | set(range(view.n_created, view.n_created + m))
        self._since = 1
        return Action(keep=keep, new=m, branch_from=None if src < 0 else unf[src].sid)

