"""A verifiable task with mixed difficulty: an iterated map with a written scratchpad.

A question ``Q7,5,3=`` asks: start from ``x = 7`` and apply ``x <- (3 * x + c) mod 10`` for
the counter ``c = 5, 4, ..., 1``. The reference scratchpad writes one line per step, with the
counter, the product and the sum, and the answer after ``A``::

    5:7*3=1+5=6;4:6*3=8+4=2;3:2*3=6+3=9;2:9*3=7+2=9;1:9*3=7+1=8;A8

Every quantity a line needs is a fixed distance back (the previous line) or at a fixed place
in the prompt (the multiplier), so a small transformer learns the format quickly; the
arithmetic is two small tables. Difficulty is the number of steps (1 to 9). The multiplier is
3, 7 or 9, a unit mod 10, so the map is a bijection: a wrong value is never "healed" by a
later step, and a sample with a slip in its text ends on a wrong answer (unless a second
slip undoes the first, one chance in nine). A correctness label then says what the text
shows, which is what makes self-evaluation learnable.

Pretraining data is noisy: step ``k`` (0-based) is miswritten with a probability that grows
with ``k``, the error is carried forward, and the slips are of three kinds
(:data:`SLIP_KINDS`), chosen so that most of them can be *seen* in the text:

* ``forgot``: the counter is not added (``r = p``), the same slip every time it is made, so
  samples that make it at the same step agree on the same wrong answer (errors correlate,
  as they do for real models, and voting alone cannot undo them); seen by ``r == p``;
* ``copy``: the line starts from a wrong value (not the previous line's result); seen by
  comparing two digits a fixed distance apart;
* ``arith``: a wrong product or sum digit; seen only by redoing the arithmetic.

After a slip the writer often notices something is off (``?`` and the same line again), so
failures run longer, as they do for reasoning models. Sampled at temperature 1 the model
reproduces this: the success rate falls from near 1 on one-step questions to low values on
nine-step ones, and the length grows with the number of steps.

The checker is exact: the text after the last ``A`` must equal the true result.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_STEPS = 9
#: multipliers: units mod 10, so the map is a bijection and a slip is never healed
MULTIPLIERS = (3, 7, 9)
#: slip kinds and their shares among slips (see the module docstring)
SLIP_KINDS = {"forgot": 0.4, "copy": 0.3, "arith": 0.3}


@dataclass(frozen=True)
class Problem:
    qid: str
    start: int
    steps: int
    mult: int

    @property
    def difficulty(self) -> float:
        return float(self.steps)

    @property
    def prompt(self) -> str:
        return f"Q{self.start},{self.steps},{self.mult}="

    @property
    def answer(self) -> str:
        return str(evaluate(self.start, self.steps, self.mult))


def evaluate(start: int, steps: int, mult: int) -> int:
    x = int(start)
    for c in range(int(steps), 0, -1):
        x = (mult * x + c) % 10
    return x


def make_problems(n: int, seed: int, min_steps: int = 1, max_steps: int = MAX_STEPS,
                  prefix: str = "q") -> list[Problem]:
    """``n`` problems with steps uniform on ``[min_steps, max_steps]`` (a mixed set)."""
    if not 1 <= min_steps <= max_steps <= MAX_STEPS:
        raise ValueError(f"need 1 <= min_steps <= max_steps <= {MAX_STEPS}, got {min_steps}, {max_steps}")
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 11]))
    steps = rng.integers(min_steps, max_steps + 1, size=n)
    start = rng.integers(0, 10, size=n)
    mult = rng.choice(np.array(MULTIPLIERS), size=n)
    return [Problem(qid=f"{prefix}{i}", start=int(a), steps=int(s), mult=int(m))
            for i, (a, s, m) in enumerate(zip(start, steps, mult))]


def step_error_prob(step_index: int, base: float = 0.02, slope: float = 0.045) -> float:
    """Probability that the writer miswrites step ``step_index`` (0-based)."""
    return min(0.9, base + slope * step_index)


def noisy_solution(problem: Problem, rng: np.random.Generator, noise: float = 1.0,
                   recheck: float = 0.9) -> tuple[str, bool]:
    """A scratchpad for ``problem`` with injected slips; returns ``(text, correct)``.

    ``noise`` scales the per-step slip probability (0 gives clean solutions); ``recheck`` is
    the probability that the writer notices a slip: ``?`` right after the slipped digit, and
    the line written again after it (the slip stays).
    """
    x, k = problem.start, problem.mult
    kinds, shares = list(SLIP_KINDS), np.array(list(SLIP_KINDS.values()))
    parts = []
    for i, c in enumerate(range(problem.steps, 0, -1)):
        err = noise > 0 and rng.random() < noise * step_error_prob(i)
        shown, prod = x, (k * x) % 10
        res = (prod + c) % 10
        where = None                      # which written digit is the slip
        if err:
            kind = kinds[int(rng.choice(len(kinds), p=shares / shares.sum()))]
            if kind == "copy":
                shown = int((x + rng.integers(1, 10)) % 10)
                prod, where = (k * shown) % 10, "x"
                res = (prod + c) % 10
            elif kind == "forgot":
                res, where = prod, "r"
            elif rng.random() < 0.5:
                prod, where = int((prod + rng.integers(1, 10)) % 10), "p"
                res = (prod + c) % 10
            else:
                res, where = int((res + rng.integers(1, 10)) % 10), "r"
        noticed = err and rng.random() < recheck
        mark = {w: ("?" if noticed and where == w else "") for w in ("x", "p", "r")}
        line = f"{c}:{shown}{mark['x']}*{k}={prod}{mark['p']}+{c}={res}{mark['r']};"
        if noticed:
            line += f"{c}:{shown}*{k}={prod}+{c}={res};"
        parts.append(line)
        x = res
    text = "".join(parts) + f"A{x}"
    return text, str(x) == problem.answer


def extract_answer(response: str) -> str | None:
    """The text after the last ``A`` of a finished response (None if there is none)."""
    k = response.rfind("A")
    if k < 0:
        return None
    ans = response[k + 1:]
    return ans if ans.isdigit() else None


def check(problem: Problem, response: str) -> bool:
    """Exact checker: the extracted answer equals the true result."""
    return extract_answer(response) == problem.answer
