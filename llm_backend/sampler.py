"""The online sampler: real decoding driven every ``delta`` tokens by a meta-MDP policy.

For one question the prompt is encoded once (:meth:`KVPool.prefill`). At each decision
epoch the policy sees every unfinished sample's current joint (read from the logits of the
last forward pass) and returns which samples to advance, how many to start, and whether new
samples start from the prompt or branch from a sample's prefix. The chosen samples then
advance ``delta`` tokens together, one batched forward pass per token. Samples not chosen
are paused (their caches stay untouched); samples still unfinished when the policy stops
are pruned (their slots freed, reward 0). A finished sample's value is its predicted
``E[value]`` just before its end token (never smoothed), which is what the planner sees as a
revealed value. Policies (ZIP-RC and every baseline) live in :mod:`llm_backend.policies`;
with ``smooth_tokens = W > 0`` the joint a policy sees for an unfinished sample is the
causal moving average of the raw joints of its last ``W`` prefixes.

Every sample is written as one row of the simulators' trace format
(:mod:`simulators.traces`), plus the extra columns ``branch_from`` (sample id, -1 for the
prompt), ``prefix_tokens`` (tokens inherited when branching) and ``status``.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from dataclasses import dataclass, field

import numpy as np
import torch

from metamdp.grids import RewardGrid

from .decode import KVPool, Sampler
from metamdp.policies import PolicyRunError, View, call_policy, select

# the majority vote whose runs majority_from_samples reads (external.py takes it from here)
from .policies import MajorityVotePolicy  # noqa: F401
from .model import GridSpec
from .rollouts import prompt_ids
from .slice import ReservedSlice
from .task import Problem, check, extract_answer
from .train import length_grid


@dataclass
class Sample:
    sid: int
    slot: object                   # the engine's handle: a KVPool slot, or a vLLM stream
    tokens: list
    prefix_tokens: int
    pending: torch.Tensor | None   # next-token logits after the current prefix (HF engine)
    joint: np.ndarray              # (R, L) joint of the current prefix
    branch_from: int = -1
    status: str = "running"        # running | paused | finished | truncated | pruned
    tick_tokens: list = field(default_factory=list)
    joints: list = field(default_factory=list)
    value: float = 0.0
    answer: str | None = None
    correct: bool = False
    elapsed_ticks: int = 0         # ticks along its path (a branch's inherited ones included)
    window: deque | None = None    # raw per-token joints of the last W prefixes (smoothing)
    prefix_ticks: int = 0          # ticks inherited when branching

    # simulated signals of metamdp.policies.SampleView: a real model has none
    trace_noise = None
    rm_noise = None

    @property
    def own_tokens(self) -> int:
        return len(self.tokens) - self.prefix_tokens

    @property
    def own_ticks(self) -> int:
        return self.elapsed_ticks - self.prefix_ticks

    @property
    def unfinished(self) -> bool:
        return self.status in ("running", "paused")


@dataclass
class QuestionResult:
    qid: str
    policy: str
    answer_best: str | None
    answer_vote: str | None
    correct_best: bool
    correct_vote: bool
    compute_tokens: int
    serial_tokens: int
    n_started: int
    pruned_tokens: int
    epochs: int
    samples: list
    policy_seconds: float = 0.0
    decode_seconds: float = 0.0
    answer: str | None = None        # the policy's own answer (its selection rule)
    correct: bool = False
    selection: str = "value"
    # what the engine computed besides the generated tokens: ``prefill_tokens`` (prompt,
    # branch and resume prefixes it recomputed) and ``discarded_tokens`` (decoded ahead of
    # the controller, then dropped by a prune)
    engine_cost: dict = field(default_factory=dict)


@dataclass
class _Episode:
    """A question in flight: its policy, counters and timers, and its generator."""

    index: int
    problem: object
    policy: object
    qid: str
    gen: object = None
    active: list = field(default_factory=list)
    compute: int = 0
    serial: int = 0
    t_policy: float = 0.0
    t_decode: float = 0.0


class OnlineSampler:
    """Runs questions on a pool of KV-cache slots: ``cap`` per question in flight.

    The decoding engine sits behind a few hooks (``_init_engine``, ``_start_question``,
    ``_new_sample``, ``_branch_sample``, ``_set_running``, ``_release``, ``_next_tokens``,
    ``_feed``, ``_pending_joint``, ``_engine_cost``): this class is the project's own loop
    (:mod:`llm_backend.decode`); :class:`llm_backend.vllm_engine.VllmOnlineSampler` serves
    the same controller from vLLM. Policies, cost accounting and trace rows are this class's.
    """

    engine = "hf"

    def __init__(self, model, tok, reserved: ReservedSlice, grid: GridSpec, cap: int = 8,
                 max_new_tokens: int = 160, max_prompt: int = 64, seed: int = 0,
                 temperature: float = 1.0, smooth_tokens: int = 0, task=None):
        self.model, self.tok, self.reserved, self.grid = model, tok, reserved, grid
        # ``task``: prompt encoding and answer checking of any prompt set
        # (:class:`llm_backend.prompts.PromptTask`); None = the built-in arithmetic task
        self.task = task
        self.rewards = RewardGrid.official(reserved.reward_states)
        self.lengths = length_grid(grid)
        self.delta = int(grid.delta)
        self.cap = int(cap)
        self.max_new_tokens = int(max_new_tokens)
        self.eos = tok.eos_token_id
        if int(smooth_tokens) != smooth_tokens or smooth_tokens < 0:
            raise ValueError(f"smooth_tokens must be an integer >= 0 (0 = off), got {smooth_tokens!r}")
        self.smooth_tokens = int(smooth_tokens)
        self._init_engine(max_prompt, temperature, seed)

    # ------------------------------------------------------------------ the engine's hooks

    def _init_engine(self, max_prompt: int, temperature: float, seed: int):
        self.device = next(self.model.parameters()).device
        self.pool = KVPool(self.model, self.cap, max_prompt + self.max_new_tokens + 2, self.device)
        rows = self.model.get_output_embeddings().weight.shape[0]
        self.sampler = Sampler(self.reserved, rows, len(self.tok), temperature, seed, self.device)

    def _start_question(self, ep: "_Episode", ids):
        """Encode a question's prompt once: ``(handle, root joint)``."""
        prefix = self.pool.prefill(ids)
        return prefix, self._joint(prefix.logits)

    def _new_sample(self, ep: "_Episode", prefix, s: "Sample"):
        """Give a sample started from the prompt its cache and next-token logits."""
        s.slot = self.pool.alloc()
        self.pool.load(s.slot, prefix)
        s.pending = prefix.logits

    def _branch_sample(self, ep: "_Episode", prefix, s: "Sample", src: "Sample"):
        """Give a branch the cache of its source's prefix."""
        s.slot = self.pool.alloc()
        self.pool.copy(src.slot, s.slot)
        s.pending = src.pending.clone()

    def _set_running(self, ep: "_Episode", active, paused):
        """``active`` advance in the next tick, ``paused`` do not (here a paused sample is
        simply not stepped: its cache stays as it is)."""

    def _release(self, s: "Sample"):
        self.pool.free(s.slot)

    def _pending_joint(self, s: "Sample") -> np.ndarray:
        """The raw joint of a sample's current prefix."""
        return self._joint(s.pending)

    def _next_tokens(self, samples) -> list:
        """The next token of each sample (drawn from its current prefix's logits)."""
        return self.sampler(torch.stack([s.pending for s in samples])).tolist()

    def _feed(self, samples, tokens, raw: bool):
        """Append ``tokens`` to ``samples`` in the engine (one batched forward pass); with
        ``raw`` return their new prefixes' raw joints ``(A, R, L)``."""
        logits = self.pool.step([s.slot for s in samples], tokens)
        for s, lg in zip(samples, logits):
            s.pending = lg
        return self.reserved.joints(logits).cpu().numpy().astype(np.float64) if raw else None

    def _engine_cost(self, prefix) -> dict:
        return {"prefill_tokens": int(prefix.length), "discarded_tokens": 0}

    # ------------------------------------------------------------------ the controller

    def _window(self, first: np.ndarray | None = None, src: "Sample | None" = None):
        """A fresh smoothing window (``None`` when smoothing is off): the source's copy when
        branching, else one holding the prompt's joint."""
        if not self.smooth_tokens:
            return None
        if src is not None:
            return deque(src.window, maxlen=self.smooth_tokens)
        return deque([first], maxlen=self.smooth_tokens)

    def _seen_joint(self, s: Sample) -> np.ndarray:
        """What the policy sees for an unfinished sample: the joint of its current prefix,
        or with smoothing the mean of the raw joints of its last ``W`` prefixes (the prompt
        counts as the prefix of 0 tokens; a branch inherits its source's window)."""
        if not self.smooth_tokens:
            return self._pending_joint(s)
        return np.mean(np.stack(list(s.window)), axis=0)

    def _joint(self, logits: torch.Tensor) -> np.ndarray:
        return self.reserved.joints(logits[None])[0].cpu().numpy().astype(np.float64)

    def _finish(self, s: Sample, problem: Problem, status: str):
        s.status = status
        if s.joint is None or status == "finished":
            # the raw joint just before the end token (never smoothed): the revealed value
            s.joint = self._pending_joint(s)
        if status == "finished":
            if self.task is not None:
                text = self.task.decode(s.tokens[:-1])
                s.answer = self.task.extract(text)
                s.correct = bool(self.task.check(problem, text))
            else:
                text = self.tok.decode(s.tokens[:-1])
                s.answer = extract_answer(text)
                s.correct = bool(check(problem, text))
            s.value = float(s.joint.sum(1) @ self.rewards.values)
        if s.slot is not None:
            self._release(s)
            s.slot = None

    def _sync(self):
        """Wait for queued device work, so that a host timer measures what it claims to (on
        CUDA kernels run asynchronously; without this, time spills between sections)."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def _ensure_pool(self, slots: int):
        if getattr(self, "pool", None) is not None and self.pool.capacity < slots:
            self.pool = KVPool(self.model, slots, self.pool.max_len, self.device)

    def run(self, problem: Problem, policy, question_id: str | None = None) -> QuestionResult:
        """One question (see :meth:`run_many` for several questions decoded together)."""
        return self.run_many([problem], policy, [question_id], concurrent=1)[0]

    def run_many(self, problems, policy, question_ids=None, concurrent: int = 1) -> list[QuestionResult]:
        """Run ``problems`` with up to ``concurrent`` questions in flight at once, their samples
        advancing together in one batched forward pass per token (up to ``concurrent * cap``
        sequences). Each question gets its own copy of ``policy``; a question that ends frees
        its place for the next one. With ``concurrent = 1`` this is one question at a time."""
        import copy

        if int(concurrent) != concurrent or concurrent < 1:
            raise ValueError(f"concurrent must be an integer >= 1, got {concurrent!r}")
        problems = list(problems)
        qids = list(question_ids) if question_ids is not None else [None] * len(problems)
        self._ensure_pool(self.cap * int(concurrent))
        results: list = [None] * len(problems)
        todo = deque(range(len(problems)))
        live: list = []
        while todo or live:
            while todo and len(live) < concurrent:
                i = todo.popleft()
                pol = policy if concurrent == 1 else copy.deepcopy(policy)
                ep = _Episode(index=i, problem=problems[i], policy=pol, qid=qids[i] or problems[i].qid)
                ep.gen = self._episode(ep)
                if self._resume(ep, results):
                    live.append(ep)
            if not live:
                continue
            self._tick(live)
            live = [ep for ep in live if self._resume(ep, results)]
        return results

    def _resume(self, ep: "_Episode", results) -> bool:
        """Run an episode up to its next tick request; False (and its result stored) when it ended."""
        try:
            ep.active = next(ep.gen)
            return True
        except StopIteration as stop:
            results[ep.index] = stop.value
            return False

    def _tick(self, live):
        """Advance the chosen samples of every live question by one tick of ``delta`` tokens,
        all of them in one batched forward pass per token."""
        self._sync()
        t0 = time.perf_counter()
        work = [(ep, s) for ep in live for s in ep.active]
        share = {id(ep): 0 for ep in live}
        for _ in range(self.delta):
            if not work:
                break
            nxt = self._next_tokens([s for _, s in work])
            stepped = set()
            feed, still = [], []
            for (ep, s), t in zip(work, nxt):
                ep.compute += 1
                share[id(ep)] += 1
                if id(ep) not in stepped:
                    ep.serial += 1
                    stepped.add(id(ep))
                s.tokens.append(t)
                if t == self.eos:
                    self._finish(s, ep.problem, "finished")
                elif len(s.tokens) >= self.max_new_tokens:
                    # the budget bounds the whole sequence, a branch's inherited prefix included:
                    # a branch continues its parent (it starts at the prefix's node)
                    self._finish(s, ep.problem, "truncated")
                else:
                    still.append((ep, s))
                    feed.append(t)
            work = still
            if work:
                raw = self._feed([s for _, s in work], feed, bool(self.smooth_tokens))
                for _, s in work:
                    s.joint = None
                if self.smooth_tokens:
                    for (_, s), j in zip(work, raw):
                        s.window.append(j)
        self._sync()
        dt = time.perf_counter() - t0
        total = max(1, sum(share.values()))
        for ep in live:     # shared decoding time, split by the tokens each question generated
            ep.t_decode += dt * share[id(ep)] / total

    def _episode(self, ep: "_Episode"):
        """One question as a generator: it yields the samples to advance by one tick (the
        driver decodes them, batched with other questions'), and returns the result."""
        problem, policy, question_id = ep.problem, ep.policy, ep.qid
        ids = self._prompt_ids(problem)
        prefix, root_joint = self._start_question(ep, ids)
        if hasattr(policy, "prepare"):
            policy.prepare(self.rewards, self.lengths)
        if hasattr(policy, "reset"):
            policy.reset()
        samples: list[Sample] = []
        epoch = 0
        while True:
            unf = [s for s in samples if s.unfinished]
            fin = [s for s in samples if not s.unfinished]
            self._sync()
            t0 = time.perf_counter()
            act = call_policy(policy, View(unfinished=unf, finished=fin, root_joint=root_joint,
                                           n_created=len(samples), epoch=epoch, rewards=self.rewards,
                                           lengths=self.lengths, cap=self.cap),
                              f"question {question_id!r}, epoch {epoch}")
            ep.t_policy += time.perf_counter() - t0
            t0 = time.perf_counter()
            act.new = min(int(act.new), self.cap - len(samples))
            if act.stop:
                break
            for s in unf:
                s.status = "paused"
            active = [s for s in samples if s.sid in set(act.keep)]
            for _ in range(act.new):
                if act.branch_from is None:
                    s = Sample(sid=len(samples), slot=None, tokens=[], prefix_tokens=0,
                               pending=None, joint=root_joint, window=self._window(root_joint))
                    self._new_sample(ep, prefix, s)
                else:
                    src = samples[act.branch_from]
                    s = Sample(sid=len(samples), slot=None, tokens=list(src.tokens),
                               prefix_tokens=len(src.tokens), pending=None,
                               joint=src.joint.copy(), branch_from=src.sid,
                               elapsed_ticks=src.elapsed_ticks, prefix_ticks=src.elapsed_ticks,
                               window=self._window(src=src))
                    self._branch_sample(ep, prefix, s, src)
                s.tick_tokens.append(0)
                s.joints.append(s.joint.ravel().copy())
                samples.append(s)
                active.append(s)
            for s in active:
                s.status = "running"
            self._set_running(ep, active, [s for s in unf if s.status == "paused"])
            ticked = list(active)
            ep.t_decode += time.perf_counter() - t0
            # the driver advances the chosen samples by one tick of delta tokens
            yield active
            t0 = time.perf_counter()
            for s in samples:
                if s.status == "running":
                    s.joint = self._seen_joint(s)
                    s.elapsed_ticks += 1
                    s.tick_tokens.append(s.own_tokens)
                    s.joints.append(s.joint.ravel().copy())
                elif s.joint is None:
                    s.joint = self._pending_joint(s)
            for s in ticked:
                if s.status != "running":   # ended during this tick: it still ran in it
                    s.elapsed_ticks += 1
            epoch += 1
            ep.t_decode += time.perf_counter() - t0
        pruned = 0
        for s in samples:
            if s.unfinished:
                pruned += s.own_tokens
                self._finish(s, problem, "pruned")
        done = [s for s in samples if s.status == "finished" and s.answer is not None]
        best = max(done, key=lambda s: s.value) if done else None
        selection = getattr(policy, "selection", "value")
        votes: Counter = Counter()
        for s in done:
            votes[s.answer] += max(s.value, 1e-9) if selection != "plurality" else 1.0
        vote = max(votes.items(), key=lambda kv: kv[1])[0] if votes else None
        fin = [s for s in samples if s.status == "finished"]
        try:
            chosen = policy.choose(fin) if hasattr(policy, "choose") else select("value", fin)
        except Exception as e:
            raise PolicyRunError(f"policy {getattr(policy, 'name', type(policy).__name__)!r} raised "
                                 f"{type(e).__name__}: {e} at question "
                                 f"{question_id!r}, answer selection") from e
        qid = question_id
        return QuestionResult(qid=qid, policy=policy.name,
                              answer_best=best.answer if best else None, answer_vote=vote,
                              correct_best=bool(best is not None and best.correct),
                              correct_vote=self._same(vote, problem),
                              compute_tokens=ep.compute, serial_tokens=ep.serial, n_started=len(samples),
                              pruned_tokens=pruned, epochs=epoch,
                              samples=[self.trace_row(s, qid, problem) for s in samples],
                              policy_seconds=ep.t_policy, decode_seconds=ep.t_decode,
                              answer=chosen.answer if chosen else None,
                              correct=bool(chosen is not None and chosen.correct),
                              selection=selection, engine_cost=self._engine_cost(prefix))

    def _same(self, answer, problem) -> bool:
        if answer is None:
            return False
        if self.task is not None:
            return bool(self.task.extract.same(answer, problem.answer))
        return answer == problem.answer

    def _prompt_ids(self, problem) -> list[int]:
        return self.task.prompt_ids(problem) if self.task is not None else prompt_ids(self.tok, problem)

    def trace_row(self, s: Sample, qid: str, problem: Problem) -> dict:
        """The sample as a trace row; its token ids (``prompt_token_ids``: the question's prompt
        and any prefix inherited by branching; ``output_token_ids``: its own tokens) let
        ``ziprc llm score`` re-score it with another checkpoint."""
        return {"question_id": qid, "sample_id": int(s.sid), "difficulty": _difficulty(problem),
                "delta": self.delta, "reward_values": [float(x) for x in self.rewards.values],
                "length_edges": [float(x) for x in self.grid.length_edges],
                "tick_tokens": [int(x) for x in s.tick_tokens],
                "joints": [list(map(float, j)) for j in s.joints],
                "total_tokens": int(s.own_tokens), "finished": s.status == "finished",
                "answer": s.answer, "correct": bool(s.correct),
                "value": float(s.value) if s.status == "finished" else 0.0,
                "branch_from": int(s.branch_from), "prefix_tokens": int(s.prefix_tokens),
                "status": s.status,
                "prompt_token_ids": [int(t) for t in self._prompt_ids(problem)] + [int(t) for t in s.tokens[:s.prefix_tokens]],
                "output_token_ids": [int(t) for t in s.tokens[s.prefix_tokens:]]}


def _difficulty(problem):
    """A question's difficulty for the traces (None when unknown: a nullable column)."""
    d = getattr(problem, "difficulty", None)
    return None if d is None or d != d else float(d)


def majority_from_samples(rows: list[dict], n: int, truth: str, same=None):
    """Majority vote over the first ``n`` of a question's independent full samples (rows
    of a ``MajorityVotePolicy`` run): ``(correct, compute_tokens, serial_tokens)``.
    ``same(vote, truth)`` decides correctness (default: equality)."""
    sub = rows[:n]
    answers = [r["answer"] for r in sub if r["answer"] is not None]
    vote = Counter(answers).most_common(1)[0][0] if answers else None
    ok = vote is not None and (same(vote, truth) if same is not None else vote == truth)
    return (bool(ok), int(sum(r["total_tokens"] for r in sub)),
            int(max(r["total_tokens"] for r in sub)))
