"""Temperature-1 rollouts with exact correctness labels."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .decode import generate
from .task import Problem, check, extract_answer
from .tok import encode


def prompt_ids(tok, problem: Problem) -> list[int]:
    return [tok.bos_token_id] + encode(tok, problem.prompt)


def rollouts(model, tok, reserved, problems: list[Problem], per_prompt: int, max_new_tokens: int,
             seed: int = 0, batch_size: int = 64, temperature: float = 1.0, keep_joints: bool = False,
             progress: bool = True, desc: str = "rollouts") -> list[dict]:
    """``per_prompt`` samples of every problem, each labelled by the exact checker.

    Each record: ``qid, steps, sample, prompt_ids, response_ids, n_tokens`` (response length
    including the end token), ``finished, answer, correct`` and, with ``keep_joints``, the
    predicted joint before every generated token (``joints``, ``(n_tokens, R, L)``).
    """
    from tqdm import tqdm

    prompts, meta = [], []
    for p in problems:
        ids = prompt_ids(tok, p)
        for k in range(per_prompt):
            prompts.append(ids)
            meta.append((p, k))
    bar = tqdm(total=len(prompts), desc=desc, disable=not progress, mininterval=1.0)
    gens = generate(model, tok, reserved, prompts, max_new_tokens, seed=seed, temperature=temperature,
                    batch_size=batch_size, record_joints=keep_joints, progress=bar)
    bar.close()
    out = []
    for (p, k), g in zip(meta, gens):
        body = g.response_ids[:-1] if g.finished else g.response_ids
        text = tok.decode(body)
        answer = extract_answer(text) if g.finished else None
        rec = {"qid": p.qid, "steps": p.steps, "sample": k, "prompt_ids": g.prompt_ids,
               "response_ids": g.response_ids, "n_tokens": len(g.response_ids),
               "finished": g.finished, "answer": answer,
               "correct": bool(g.finished and check(p, text))}
        if keep_joints:
            rec["joints"] = g.joints
        out.append(rec)
    return out


def save_rollouts(path, recs: list[dict]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w") as f:
        for r in recs:
            r = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in r.items()}
            f.write(json.dumps(r) + "\n")
    tmp.replace(path)


def load_rollouts(path) -> list[dict]:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no rollouts at {path}; run `ziprc llm rollouts` first")
    recs = []
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            if "joints" in r:
                r["joints"] = np.asarray(r["joints"], dtype=np.float32)
            recs.append(r)
    return recs


def summary(recs: list[dict]) -> dict:
    by = {}
    for r in recs:
        by.setdefault(r["steps"], []).append(r)
    return {"n": len(recs), "accuracy": float(np.mean([r["correct"] for r in recs])),
            "mean_tokens": float(np.mean([r["n_tokens"] for r in recs])),
            "finished": float(np.mean([r["finished"] for r in recs])),
            "by_steps": {int(s): {"n": len(v), "accuracy": float(np.mean([r["correct"] for r in v])),
                                  "mean_tokens": float(np.mean([r["n_tokens"] for r in v])),
                                  "mean_tokens_correct": float(np.mean([r["n_tokens"] for r in v if r["correct"]]) if any(r["correct"] for r in v) else float("nan")),
                                  "mean_tokens_wrong": float(np.mean([r["n_tokens"] for r in v if not r["correct"]]) if not all(r["correct"] for r in v) else float("nan"))}
                         for s, v in sorted(by.items())}}
