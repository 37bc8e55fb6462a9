"""A verifiable task with mixed difficulty: chains of single-digit operations mod 10.

A question is ``Q3+5*7+2=`` (left to right, every result taken mod 10). The reference
solution is a scratchpad with one line per step and the answer after ``A``::

    3+5=8;8*7=6;6+2=8;A8

Difficulty is the number of steps (1 to ``max_steps``). Pretraining data is noisy: each
step is miswritten with a probability that grows with the step index (products more often
than sums), and the error is carried forward; after a miswritten step the writer often
"rechecks" (``?a+b=c;``), so failures run longer, as they do for reasoning models. Sampled
at temperature 1 the model reproduces this, so the success rate falls from near 1 on one-step
questions to near 0 on the longest, and the length grows with the number of steps.

The checker is exact: the text after the last ``A`` must equal the true result.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

OPS = "+*"


@dataclass(frozen=True)
class Problem:
    qid: str
    operands: tuple
    ops: tuple

    @property
    def steps(self) -> int:
        return len(self.ops)

    @property
    def difficulty(self) -> float:
        return float(self.steps)

    @property
    def prompt(self) -> str:
        s = str(self.operands[0])
        for o, x in zip(self.ops, self.operands[1:]):
            s += o + str(x)
        return "Q" + s + "="

    @property
    def answer(self) -> str:
        return str(evaluate(self.operands, self.ops))


def _apply(a: int, op: str, b: int) -> int:
    return (a + b) % 10 if op == "+" else (a * b) % 10


def evaluate(operands, ops) -> int:
    acc = int(operands[0])
    for o, x in zip(ops, operands[1:]):
        acc = _apply(acc, o, int(x))
    return acc


def make_problem(rng: np.random.Generator, steps: int, qid: str) -> Problem:
    operands = tuple(int(x) for x in rng.integers(0, 10, size=steps + 1))
    ops = tuple(OPS[int(i)] for i in rng.integers(0, 2, size=steps))
    return Problem(qid=qid, operands=operands, ops=ops)


def make_problems(n: int, seed: int, min_steps: int = 1, max_steps: int = 12,
                  prefix: str = "q") -> list[Problem]:
    """``n`` problems with steps uniform on ``[min_steps, max_steps]`` (a mixed set)."""
    if min_steps < 1 or max_steps < min_steps:
        raise ValueError(f"need 1 <= min_steps <= max_steps, got {min_steps}, {max_steps}")
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 11]))
    steps = rng.integers(min_steps, max_steps + 1, size=n)
    return [make_problem(rng, int(s), f"{prefix}{i}") for i, s in enumerate(steps)]


def step_error_prob(step_index: int, op: str, base: float = 0.015, slope: float = 0.012) -> float:
    """Probability that the writer miswrites step ``step_index`` (0-based)."""
    p = base + slope * step_index
    return min(0.9, p * (1.6 if op == "*" else 1.0))


def noisy_solution(problem: Problem, rng: np.random.Generator, noise: float = 1.0,
                   recheck: float = 0.7) -> tuple[str, bool]:
    """A scratchpad for ``problem`` with injected errors; returns ``(text, correct)``.

    ``noise`` scales the per-step error probability (0 gives clean solutions).
    """
    acc = problem.operands[0]
    parts = []
    for k, (o, x) in enumerate(zip(problem.ops, problem.operands[1:])):
        true = _apply(acc, o, x)
        res = true
        if noise > 0 and rng.random() < noise * step_error_prob(k, o):
            res = int((true + rng.integers(1, 10)) % 10)
            line = f"{acc}{o}{x}={res};"
            if rng.random() < recheck:
                line += f"?{acc}{o}{x}={res};"
        else:
            line = f"{acc}{o}{x}={res};"
        parts.append(line)
        acc = res
    text = "".join(parts) + f"A{acc}"
    return text, acc == evaluate(problem.operands, problem.ops)


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
