"""Score recorded rollouts with a ZIP-RC checkpoint: the joints a sampler would have read.

``ziprc llm score --model DIR --rollouts FILE.parquet --out TRACES.parquet`` reads rollouts in
the column layout of the authors' pipeline (one row per sample: ``prompt_idx``, ``prompt``,
``answer``, ``prompt_token_ids``, ``output_token_ids``, ``input_ids``, ``label_positions``,
``response``, ``length``, ``finished``, then ``correct`` from the grader and ``value`` from the
denoising step), runs every rollout teacher-forced through the checkpoint and writes the
trace format of ``docs/traces.md``, which ``ziprc replay`` runs every policy on.

Positions (the official scorer's convention, ``label_positions - 1``): the hidden state at
sequence index ``i`` has seen tokens ``0..i``. The prediction after ``k`` generated tokens is
the slice softmax at index ``P - 1 + k`` (``P`` prompt tokens), the logits that chose output
token ``k``; it is recorded at ``k = 0, delta, 2 delta, ... < len(output)``, the decision
points of the online sampler. So ``tick_tokens[0] = 0`` is read at the last prompt token,
and the last output token (usually the end token) is never fed.

At scale: rollouts are batched by total tokens (sorted by length, so padding stays small);
a rollout longer than the batch is fed in chunks through the KV cache, so memory is bounded
by the batch; only the slice rows of the head are applied to the hidden states (checked once
per run against the model's full forward pass); results go to shards of ``shard_rows``
input rows under ``OUT.parts/``, each written atomically, so an interrupted run resumes
where it stopped; the shards are then concatenated into ``OUT`` (rows of a question
together) and removed. A malformed rollout file fails before any scoring, with the row and
column named.
"""

from __future__ import annotations

import json
import shutil
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

#: columns named as the authors' pipeline names them
QUESTION_COLUMNS = ("prompt_idx", "question_id")
ID_COLUMNS = ("prompt_token_ids", "output_token_ids")
PACKED_ID_COLUMNS = ("input_ids", "label_positions")
#: tokens per forward pass by device: on CPU attention over padded batches costs more than it
#: saves (``ziprc bench --sections score``: batches of 512 tokens ~1.1x one rollout at a time,
#: of 8192 ~0.6x), on a GPU large batches are what fills it
DEFAULT_BATCH_TOKENS = {"cpu": 512, "cuda": 16384}
DEFAULT_SHARD_ROWS = 1024
#: the scorer's head shortcut must reproduce the full forward pass's joints this closely
HEAD_CHECK_TOLERANCE = 1e-4
HEAD_CHECK_POSITIONS = 16
EXTRA_FIELDS = (pa.field("source_row", pa.int64()), pa.field("reference_answer", pa.string()))


class RolloutError(ValueError):
    """A rollout file is malformed; the message names the row and the column."""


@dataclass
class Rollout:
    """One rollout as the scorer needs it."""

    row: int
    question_id: str
    question_rank: int      # the question's rank in order of first appearance in the file
    sample_id: int
    prompt_ids: np.ndarray
    output_ids: np.ndarray
    finished: bool
    correct: bool
    value: float | None
    response: str | None
    reference: str | None
    recorded_answer: str | None = None      # a trace file's own extracted answer


def tick_positions(prompt_len: int, output_len: int, delta: int) -> tuple[np.ndarray, np.ndarray]:
    """``(tick_tokens, positions)``: the decision points ``k = 0, delta, ... < output_len``
    and the sequence indices ``prompt_len - 1 + k`` whose hidden states give them."""
    ticks = np.arange(0, int(output_len), int(delta), dtype=np.int64)
    return ticks, ticks + int(prompt_len) - 1


# --------------------------------------------------------------------------- reading


class RolloutFile:
    """A rollout Parquet file: which columns it has, and its rows, validated, in batches."""

    def __init__(self, path, vocab_rows: int, eos_id: int | None = None, batch_rows: int = 256):
        self.path = Path(path)
        if not self.path.is_file():
            raise RolloutError(f"--rollouts {self.path}: no such file")
        try:
            self.pf = pq.ParquetFile(str(self.path))
        except (pa.ArrowInvalid, OSError) as e:
            raise RolloutError(f"--rollouts {self.path}: not a readable Parquet file ({e})") from None
        names = self.pf.schema_arrow.names
        self.rows = self.pf.metadata.num_rows
        if self.rows == 0:
            raise RolloutError(f"{self.path}: no rows")
        self.key = next((c for c in QUESTION_COLUMNS if c in names), None)
        if self.key is None:
            raise RolloutError(f"{self.path}: missing column prompt_idx (the question each rollout answers; "
                               "question_id is also accepted)")
        if all(c in names for c in ID_COLUMNS):
            self.ids = ID_COLUMNS
        elif all(c in names for c in PACKED_ID_COLUMNS):
            self.ids = PACKED_ID_COLUMNS
        else:
            raise RolloutError(f"{self.path}: missing token ids: give prompt_token_ids and output_token_ids "
                               "(or input_ids and label_positions)")
        if "correct" not in names:
            raise RolloutError(f"{self.path}: missing column correct (the grader's label of each rollout)")
        if "finished" not in names and eos_id is None:
            raise RolloutError(f"{self.path}: missing column finished, and the tokenizer has no end token to tell")
        # a trace file of this project (``ziprc llm sample``'s, with token ids): its ``answer`` is
        # the extracted answer, its reference is ``reference_answer``
        self.recorded = "tick_tokens" in names
        self.columns = [c for c in (self.key, *self.ids, "finished", "correct", "value", "response", "answer",
                                    "reference_answer", "length") if c in names]
        self.vocab_rows = int(vocab_rows)
        self.eos_id = eos_id
        self.batch_rows = int(batch_rows)
        self.sample_ids: np.ndarray | None = None

    def batches(self):
        """Yield lists of :class:`Rollout`, validated, in file order."""
        first_seen: dict = {}
        counts: dict = {}
        offset = 0
        for batch in self.pf.iter_batches(batch_size=self.batch_rows, columns=self.columns):
            cols = {c: batch.column(c).to_pylist() for c in self.columns}
            out = []
            for i in range(batch.num_rows):
                r = self._row(cols, i, offset + i)
                r.question_rank = first_seen.setdefault(r.question_id, len(first_seen))
                r.sample_id = counts.get(r.question_id, 0)
                counts[r.question_id] = r.sample_id + 1
                out.append(r)
            offset += batch.num_rows
            yield out

    def _row(self, cols, i, row) -> Rollout:
        def fail(col, msg):
            raise RolloutError(f"{self.path} row {row}, column {col}: {msg}")

        def ids_of(col):
            v = cols[col][i]
            if v is None:
                fail(col, "is null")
            if isinstance(v, str):
                fail(col, "holds text, expected a list of token ids")
            try:
                a = np.asarray(v, dtype=np.int64)
            except (TypeError, ValueError):
                fail(col, "is not a list of integers")
            if a.ndim != 1:
                fail(col, f"expected a flat list of token ids, got shape {a.shape}")
            return a

        key = cols[self.key][i]
        if key is None:
            fail(self.key, "is null")
        if self.ids == ID_COLUMNS:
            prompt, output = ids_of("prompt_token_ids"), ids_of("output_token_ids")
            where = ("prompt_token_ids", "output_token_ids")
        else:
            seq, lab = ids_of("input_ids"), ids_of("label_positions")
            if lab.size == 0:
                fail("label_positions", "is empty: no generated tokens")
            if np.any(np.diff(lab) != 1) or lab[-1] != seq.size - 1:
                fail("label_positions", "must be the consecutive positions of the generated tokens, "
                     "up to the end of input_ids")
            if lab[0] < 1:
                fail("label_positions", f"starts at {lab[0]}: the prompt must have at least one token")
            prompt, output = seq[:lab[0]], seq[lab[0]:]
            where = ("input_ids", "input_ids")
        if prompt.size == 0:
            fail(where[0], "the prompt has no tokens")
        if output.size == 0:
            fail(where[1], "empty output: the rollout generated no tokens")
        for name, a in zip(where, (prompt, output)):
            bad = (a < 0) | (a >= self.vocab_rows)
            if np.any(bad):
                k = int(np.flatnonzero(bad)[0])
                fail(name, f"token id {int(a[k])} at index {k} is outside the model's vocabulary "
                     f"(0..{self.vocab_rows - 1})")
        if "length" in cols and cols["length"][i] is not None and int(cols["length"][i]) != output.size:
            fail("length", f"is {cols['length'][i]} but the rollout has {output.size} output tokens")
        if "finished" in cols:
            finished = cols["finished"][i]
            if finished is None:
                fail("finished", "is null")
        else:
            finished = int(output[-1]) == int(self.eos_id)
        correct = cols["correct"][i]
        if correct is None:
            fail("correct", "is null")
        value = cols["value"][i] if "value" in cols else None
        if value is not None:
            value = float(value)
            if value != value:
                value = None
            elif not 0.0 <= value <= 1.0:
                fail("value", f"{value!r} is outside [0, 1]")
        def text(col):
            v = cols[col][i] if col in cols else None
            return None if v is None else str(v)

        return Rollout(row=row, question_id=str(key), question_rank=0, sample_id=0, prompt_ids=prompt,
                       output_ids=output, finished=bool(finished), correct=bool(correct), value=value,
                       response=text("response"), reference=text("reference_answer" if self.recorded else "answer"),
                       recorded_answer=text("answer") if self.recorded else None)

    def validate(self) -> dict:
        """Read every row once (no model); return ``{"rows", "questions", "output_tokens"}``."""
        questions, tokens = set(), 0
        for rs in self.batches():
            for r in rs:
                questions.add(r.question_id)
                tokens += r.output_ids.size
        return {"rows": self.rows, "questions": len(questions), "output_tokens": tokens}


# --------------------------------------------------------------------------- the model


class SliceReader:
    """Hidden states of the decoder, and only the slice rows of the head applied to them."""

    def __init__(self, model, reserved):
        import torch

        self.model = model
        self.base = model.base_model
        head = model.get_output_embeddings()
        self.weight = head.weight[reserved.start:reserved.stop].detach().float()
        bias = getattr(head, "bias", None)
        self.bias = None if bias is None else bias[reserved.start:reserved.stop].detach().float()
        self.reserved = reserved
        self.device = next(model.parameters()).device
        self.torch = torch

    def _joints(self, h):
        logits = self.torch.nn.functional.linear(h.float(), self.weight, self.bias)
        p = self.torch.softmax(logits, dim=-1)
        return p.reshape(-1, self.reserved.reward_states, self.reserved.length_bins)

    def batch(self, seqs: list[np.ndarray], positions: list[np.ndarray]) -> list[np.ndarray]:
        """Joints at ``positions[i]`` of each of ``seqs`` (right-padded into one forward)."""
        torch = self.torch
        n = max(s.size for s in seqs)
        ids = torch.zeros((len(seqs), n), dtype=torch.long)
        mask = torch.zeros((len(seqs), n), dtype=torch.long)
        for i, s in enumerate(seqs):
            ids[i, :s.size] = torch.from_numpy(s)
            mask[i, :s.size] = 1
        with torch.inference_mode():
            h = self.base(input_ids=ids.to(self.device), attention_mask=mask.to(self.device)).last_hidden_state
            rows = torch.cat([torch.full((p.size,), i, dtype=torch.long) for i, p in enumerate(positions)])
            cols = torch.from_numpy(np.concatenate(positions))
            j = self._joints(h[rows.to(self.device), cols.to(self.device)]).cpu().numpy().astype(np.float64)
        return np.split(j, np.cumsum([p.size for p in positions])[:-1])

    def chunked(self, seq: np.ndarray, positions: np.ndarray, chunk: int) -> np.ndarray:
        """Joints of one long sequence fed ``chunk`` tokens at a time through the KV cache."""
        from transformers import DynamicCache

        torch = self.torch
        cache = DynamicCache()
        out = []
        # ``past_key_values`` is the name every supported transformers version accepts (newer
        # ones warn that it will be renamed)
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*past_key_values.*")
            for a in range(0, seq.size, chunk):
                b = min(seq.size, a + chunk)
                x = torch.from_numpy(seq[a:b]).unsqueeze(0).to(self.device)
                h = self.base(input_ids=x, past_key_values=cache, use_cache=True).last_hidden_state[0]
                sel = positions[(positions >= a) & (positions < b)] - a
                if sel.size:
                    out.append(self._joints(h[torch.from_numpy(sel).to(self.device)]).cpu().numpy())
        return np.concatenate(out).astype(np.float64)

    def check_against_full_forward(self, seq: np.ndarray, positions: np.ndarray) -> float:
        """Max |joint| difference between this shortcut and the model's own logits (full
        forward, all head rows) at ``positions``; raises when it exceeds the tolerance."""
        from .checkpoint import CheckpointError

        torch = self.torch
        positions = positions[:HEAD_CHECK_POSITIONS]
        seq = seq[:int(positions[-1]) + 1]
        with torch.inference_mode():
            x = torch.from_numpy(seq).unsqueeze(0).to(self.device)
            keep = torch.from_numpy(positions).to(self.device)
            try:        # logits at the kept positions only (a full vocabulary at every position is large)
                logits = self.model(input_ids=x, logits_to_keep=keep).logits[0]
            except TypeError:
                logits = self.model(input_ids=x).logits[0, keep]
            full = self.reserved.joints(logits).cpu().numpy().astype(np.float64)
        mine = self.batch([seq], [positions])[0]
        diff = float(np.max(np.abs(full - mine)))
        if not diff <= HEAD_CHECK_TOLERANCE:
            raise CheckpointError(
                f"this model's logits are not a linear head on its decoder's last hidden state "
                f"(joints differ by {diff:.3g} > {HEAD_CHECK_TOLERANCE:g} from the full forward pass): "
                "the scorer cannot read its slice")
        return diff


def default_batch_tokens(device) -> int:
    return DEFAULT_BATCH_TOKENS["cuda" if str(device).startswith("cuda") else "cpu"]


def plan_batches(needed: list[int], batch_tokens: int) -> list[list[int]]:
    """Group rollouts (by the tokens each must feed) into batches whose padded size, rows x
    longest, stays within ``batch_tokens``; longest first, so neighbours have similar lengths
    and padding stays small. A rollout longer than the budget forms a batch of its own (fed
    in chunks)."""
    order = sorted(range(len(needed)), key=lambda i: -needed[i])
    batches, cur, longest = [], [], 0
    for i in order:
        if cur and (len(cur) + 1) * max(longest, needed[i]) > batch_tokens:
            batches.append(cur)
            cur, longest = [], 0
        cur.append(i)
        longest = max(longest, needed[i])
    if cur:
        batches.append(cur)
    return batches


# --------------------------------------------------------------------------- scoring


def score_rollouts(model_dir, rollouts, out, *, delta: int | None = None,
                   batch_tokens: int | None = None, shard_rows: int = DEFAULT_SHARD_ROWS,
                   dtype: str | None = None, device: str = "cpu", reward_states: int | None = None,
                   distribution_token_id: int | None = None, length_bins: int | None = None,
                   answer_regex: str | None = "boxed", progress: bool = True, stop_after_shards=None) -> dict:
    """Score every rollout of ``rollouts`` with the checkpoint in ``model_dir``; write traces
    to ``out``. ``answer_regex``: how the answer is extracted from ``response`` (``boxed``, a
    regular expression, or None: no answers). ``stop_after_shards``: stop (as an
    interruption would) after writing that many new shards. Returns a summary."""
    from .checkpoint import load_ziprc
    from .prompts import AnswerExtractor

    if delta is not None and int(delta) < 1:
        raise RolloutError(f"--delta must be >= 1, got {delta}")
    batch_tokens = default_batch_tokens(device) if batch_tokens is None else int(batch_tokens)
    if batch_tokens < 2:
        raise RolloutError(f"--batch-tokens must be >= 2, got {batch_tokens}")
    if int(shard_rows) < 1:
        raise RolloutError(f"--shard-rows must be >= 1, got {shard_rows}")
    extractor = AnswerExtractor(answer_regex) if answer_regex else None
    model, tok, reserved, rewards, lengths = load_ziprc(model_dir, distribution_token_id, reward_states,
                                                        length_bins, device, dtype=dtype)
    delta = int(delta if delta is not None else lengths.delta)
    vocab_rows = model.get_input_embeddings().weight.shape[0]
    src = RolloutFile(rollouts, vocab_rows, eos_id=tok.eos_token_id)
    if src.recorded:
        extractor = None        # a trace file's samples keep the answers extracted when they were recorded
    out = Path(out)
    params = {"model": str(model_dir), "rollouts": str(rollouts), "delta": delta, "dtype": dtype or "float32",
              "device": str(device), "slice": reserved.to_json(), "answer_regex": extractor and extractor.pattern,
              "shard_rows": int(shard_rows), "batch_tokens": int(batch_tokens),
              "positions": "joint after k output tokens = slice softmax at sequence index prompt_len - 1 + k"}
    t0 = time.perf_counter()
    summary = src.validate()       # a malformed file fails here, before any model time is spent
    parts = out.with_name(out.name + ".parts")
    fingerprint = {k: v for k, v in params.items() if k not in ("batch_tokens", "device")}
    fingerprint["rollouts_bytes"] = src.path.stat().st_size
    _prepare_parts(parts, fingerprint)
    reader = SliceReader(model, reserved)
    rows_meta = {"reward_values": [float(x) for x in rewards.values],
                 "length_edges": [float(x) for x in lengths.token_edges], "delta": delta}
    from tqdm import tqdm

    bar = tqdm(total=src.rows, desc="scoring", unit="rollout", disable=not progress, mininterval=1.0)
    stats = {"tokens_fed": 0, "seconds_model": 0.0, "resumed_shards": 0, "written_shards": 0, "head_check": None,
             "batched_rollouts": 0, "chunked_rollouts": 0}
    pending: list[Rollout] = []
    shard = 0
    for rs in src.batches():
        pending.extend(rs)
        while len(pending) >= shard_rows or (pending and pending[-1].row == src.rows - 1):
            chunk, pending = pending[:shard_rows], pending[shard_rows:]
            path = parts / f"part-{shard:05d}.parquet"
            if path.exists():
                stats["resumed_shards"] += 1
            else:
                if stop_after_shards is not None and stats["written_shards"] >= stop_after_shards:
                    bar.close()
                    raise KeyboardInterrupt(f"stopped after {stop_after_shards} shard(s)")
                trace_rows = _score_chunk(reader, chunk, delta, int(batch_tokens), rows_meta, tok, extractor, stats)
                from simulators.traces import write_traces

                write_traces(path, trace_rows, {"params": params}, extra_fields=EXTRA_FIELDS)
                stats["written_shards"] += 1
            shard += 1
            bar.update(len(chunk))
            if stats["seconds_model"] > 0:
                bar.set_postfix(tokens_per_s=f"{stats['tokens_fed'] / stats['seconds_model']:,.0f}")
    bar.close()
    written = _concatenate(parts, shard, out, params)
    shutil.rmtree(parts)
    seconds = time.perf_counter() - t0
    summary.update(written)
    summary.update({k: stats[k] for k in ("tokens_fed", "resumed_shards", "written_shards", "head_check",
                                          "batched_rollouts", "chunked_rollouts")},
                   seconds=seconds, delta=delta, out=str(out),
                   tokens_per_s=stats["tokens_fed"] / stats["seconds_model"] if stats["seconds_model"] else None)
    return summary


def _prepare_parts(parts: Path, fingerprint: dict) -> None:
    """Create the shard directory, or check that the one an interrupted run left matches."""
    run = parts / "run.json"
    if parts.exists():
        old = json.loads(run.read_text()) if run.exists() else None
        if old != json.loads(json.dumps(fingerprint)):
            raise RolloutError(f"{parts} holds an interrupted run with other parameters or another rollout "
                               "file; delete it, or rerun with the same parameters to resume it")
        return
    parts.mkdir(parents=True)
    from simulators.io import write_json_atomic

    write_json_atomic(run, fingerprint)


def score_joints(reader: SliceReader, prompts: list, outputs: list, delta: int, batch_tokens: int,
                 stats: dict | None = None) -> tuple[list, list]:
    """``(ticks, joints)`` of each rollout (``prompts[i]``, ``outputs[i]``: token id arrays):
    the decision points ``k = 0, delta, ... < len(output)`` and the ``(T, R, L)`` joints read
    there, batched by ``batch_tokens`` (:func:`plan_batches`; longer rollouts in chunks).
    ``stats`` (optional) accumulates ``tokens_fed``, ``seconds_model``, ``batched_rollouts``,
    ``chunked_rollouts``."""
    stats = {} if stats is None else stats
    seqs, positions, ticks = [], [], []
    for pr, out in zip(prompts, outputs):
        t, p = tick_positions(pr.size, out.size, delta)
        seqs.append(np.concatenate([pr, out])[:int(p[-1]) + 1])
        positions.append(p)
        ticks.append(t)
    joints: list = [None] * len(seqs)
    t0 = time.perf_counter()
    for group in plan_batches([s.size for s in seqs], batch_tokens):
        if len(group) == 1 and seqs[group[0]].size > batch_tokens:
            i = group[0]
            joints[i] = reader.chunked(seqs[i], positions[i], batch_tokens)
            stats["chunked_rollouts"] = stats.get("chunked_rollouts", 0) + 1
        else:
            for i, j in zip(group, reader.batch([seqs[i] for i in group], [positions[i] for i in group])):
                joints[i] = j
            stats["batched_rollouts"] = stats.get("batched_rollouts", 0) + len(group)
        stats["tokens_fed"] = stats.get("tokens_fed", 0) + sum(seqs[i].size for i in group)
    stats["seconds_model"] = stats.get("seconds_model", 0.0) + time.perf_counter() - t0
    return ticks, joints


def _score_chunk(reader: SliceReader, chunk: list[Rollout], delta: int, batch_tokens: int, rows_meta: dict,
                 tok, extractor, stats: dict) -> list[dict]:
    if stats["head_check"] is None:
        r = min(chunk, key=lambda r: r.prompt_ids.size + r.output_ids.size)     # the cheapest full forward
        t, p = tick_positions(r.prompt_ids.size, r.output_ids.size, delta)
        stats["head_check"] = reader.check_against_full_forward(
            np.concatenate([r.prompt_ids, r.output_ids])[:int(p[-1]) + 1], p)
    ticks, joints = score_joints(reader, [r.prompt_ids for r in chunk], [r.output_ids for r in chunk], delta,
                                 batch_tokens, stats)
    rows = []
    for k in sorted(range(len(chunk)), key=lambda k: (chunk[k].question_rank, chunk[k].row)):
        r, t, j = chunk[k], ticks[k], joints[k]
        answer = r.recorded_answer if r.finished else None
        if r.finished and extractor is not None:
            text = r.response if r.response is not None else tok.decode(r.output_ids, skip_special_tokens=True)
            answer = extractor(text)
        rows.append(dict(rows_meta, question_id=r.question_id, sample_id=r.sample_id, difficulty=None,
                         tick_tokens=t, joints=j.reshape(j.shape[0], -1), total_tokens=int(r.output_ids.size),
                         finished=r.finished, answer=answer, correct=r.correct,
                         value=float(r.value if r.value is not None else r.correct),
                         source_row=r.row, reference_answer=r.reference))
    return rows


def _concatenate(parts: Path, shards: int, out: Path, params: dict) -> dict:
    """The shards, in one file, rows of a question together (in the order questions first
    appear; rows of a question in file order)."""
    from simulators.io import provenance
    from simulators.traces import write_trace_parts

    paths = [parts / f"part-{k:05d}.parquet" for k in range(shards)]
    qids = pa.concat_arrays([pq.read_table(p, columns=["question_id"]).column(0).combine_chunks()
                             for p in paths]).to_pylist()
    first: dict = {}
    order = np.argsort([first.setdefault(q, len(first)) for q in qids], kind="stable")
    meta = {"seed": None, "params": params, "provenance": provenance("ziprc llm score", None, params)}
    return write_trace_parts(paths, out, meta, order=order)
