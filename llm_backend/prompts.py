"""Any prompt set on any checkpoint: prompts from a JSONL file, an answer extractor and checker.

A prompt file has one JSON object per line with ``id`` (string or integer), ``prompt``
(string) and ``answer`` (the reference answer, string or number); ``difficulty`` (a number)
is optional and recorded in the traces. The extractor takes the *last* match of a regular
expression in the response (default: the last number, as in most math benchmarks); when the
expression has a capture group, group 1 is the answer. ``boxed`` instead takes the content of
the last ``\\boxed{...}`` (balanced braces), the convention of the math benchmarks the authors
evaluate on. A reasoning model's response is searched only after its last ``</think>``; a
response whose ``<think>`` block never closes has no answer. The checker compares the extracted
answer with the reference after normalisation: surrounding whitespace and a trailing period
removed, thousands separators dropped from numbers, and numbers compared as numbers (so "3.0"
matches "3" and "1,000" matches "1000"); anything else is compared as text.

:class:`PromptTask` turns a problem into prompt token ids (optionally through the tokenizer's
chat template) and is what :class:`llm_backend.sampler.OnlineSampler` uses in place of the
built-in arithmetic task.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

#: the last number of a text: an optional sign, digits with optional thousands separators,
#: an optional decimal part (also ".5"), an optional fraction ("3/4")
LAST_NUMBER = r"-?(?:\d[\d,]*(?:\.\d+)?|\.\d+)(?:/\d+)?"
#: the name that selects the last ``\boxed{...}`` instead of a regular expression
BOXED = "boxed"
THINK_OPEN, THINK_CLOSE = "<think>", "</think>"


class PromptFileError(ValueError):
    """A prompt file or an answer expression is malformed."""


@dataclass(frozen=True)
class PromptProblem:
    """One question of a prompt file."""

    qid: str
    prompt: str
    answer: str
    difficulty: float = float("nan")


def load_prompts(path) -> list[PromptProblem]:
    """Read a JSONL prompt file; every error names the line."""
    path = Path(path)
    if not path.is_file():
        raise PromptFileError(f"--prompts {path}: no such file")
    out, seen = [], set()
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
            except json.JSONDecodeError as e:
                raise PromptFileError(f"{path} line {n}: not valid JSON ({e.msg})") from None
            if not isinstance(d, dict):
                raise PromptFileError(f"{path} line {n}: expected an object with id, prompt, answer")
            missing = [k for k in ("id", "prompt", "answer") if k not in d]
            if missing:
                raise PromptFileError(f"{path} line {n}: missing {', '.join(missing)}")
            if not isinstance(d["prompt"], str) or not d["prompt"].strip():
                raise PromptFileError(f"{path} line {n}: prompt must be a non-empty string")
            if not isinstance(d["answer"], (str, int, float)) or isinstance(d["answer"], bool):
                raise PromptFileError(f"{path} line {n}: answer must be a string or a number")
            qid = str(d["id"])
            if qid in seen:
                raise PromptFileError(f"{path} line {n}: duplicate id {qid!r}")
            seen.add(qid)
            diff = d.get("difficulty", float("nan"))
            if diff is None:
                diff = float("nan")
            if not isinstance(diff, (int, float)) or isinstance(diff, bool):
                raise PromptFileError(f"{path} line {n}: difficulty must be a number")
            out.append(PromptProblem(qid=qid, prompt=d["prompt"], answer=str(d["answer"]),
                                     difficulty=float(diff)))
    if not out:
        raise PromptFileError(f"{path}: no prompts")
    return out


def _number(s: str):
    t = s.replace(",", "")
    try:
        if "/" in t:
            a, b = t.split("/", 1)
            return float(a) / float(b)
        return float(t)
    except (ValueError, ZeroDivisionError):
        return None


def normalize(answer: str) -> str:
    return answer.strip().rstrip(".").strip()


def final_section(text: str) -> str | None:
    """The part of a response that states the answer: after the last ``</think>`` when the
    response has one, the whole text when it has no ``<think>``, None when a ``<think>``
    block never closes (the model was still reasoning)."""
    k = text.rfind(THINK_CLOSE)
    if k >= 0:
        return text[k + len(THINK_CLOSE):]
    return None if THINK_OPEN in text else text


def last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` of ``text`` (braces balanced), or None."""
    k = text.rfind("\\boxed{")
    while k >= 0:
        depth, i = 0, k + len("\\boxed")
        for j in range(i, len(text)):
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            if depth == 0:
                return text[i + 1:j]
        k = text.rfind("\\boxed{", 0, k)      # unbalanced: try an earlier one
    return None


class AnswerExtractor:
    """The last match of ``regex`` in a response's final section (group 1 when the
    expression has groups), or with ``regex="boxed"`` the last ``\\boxed{...}``."""

    def __init__(self, regex: str | None = None):
        self.pattern = regex or LAST_NUMBER
        self.rx = None
        if self.pattern != BOXED:
            try:
                self.rx = re.compile(self.pattern)
            except re.error as e:
                raise PromptFileError(f"--answer-regex {self.pattern!r} is not a valid regular expression: {e}") from None

    def __call__(self, text: str) -> str | None:
        text = final_section(text)
        if text is None:
            return None
        if self.rx is None:
            ans = last_boxed(text)
            return None if ans is None else normalize(ans)
        last = None
        for m in self.rx.finditer(text):
            last = m
        if last is None:
            return None
        ans = last.group(1) if self.rx.groups else last.group(0)
        return None if ans is None else normalize(ans)

    @staticmethod
    def same(answer: str | None, reference: str) -> bool:
        """Whether an extracted answer matches the reference (numbers compared as numbers)."""
        if answer is None:
            return False
        a, r = normalize(answer), normalize(str(reference))
        x, y = _number(a), _number(r)
        if x is not None and y is not None:
            return abs(x - y) <= 1e-9 * max(1.0, abs(y))
        return a == r


class PromptTask:
    """Prompt encoding, answer extraction and checking for :class:`PromptProblem` questions."""

    def __init__(self, tok, extractor: AnswerExtractor | None = None, chat: bool = False):
        self.tok = tok
        self.extract = extractor or AnswerExtractor()
        self.chat = bool(chat)
        if self.chat and not getattr(tok, "chat_template", None):
            raise PromptFileError("--chat: the tokenizer has no chat template")

    def prompt_ids(self, problem) -> list[int]:
        return encode_prompt(self.tok, problem.prompt, self.chat)

    def decode(self, ids) -> str:
        return self.tok.decode(ids, skip_special_tokens=True)

    def check(self, problem, text: str) -> bool:
        return AnswerExtractor.same(self.extract(text), problem.answer)


def encode_prompt(tok, prompt: str, chat: bool = False, add_bos: bool = True) -> list[int]:
    """Token ids of a prompt: through the chat template (a user turn, then the assistant
    header) with ``chat``, else the raw text after the BOS token when the tokenizer has one."""
    if chat:
        if not getattr(tok, "chat_template", None):
            raise PromptFileError("--chat: the tokenizer has no chat template")
        ids = tok.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True,
                                      tokenize=True)
        if hasattr(ids, "keys"):      # some versions return a BatchEncoding
            ids = ids["input_ids"]
        return [int(i) for i in ids]
    ids = tok(prompt, add_special_tokens=False)["input_ids"]
    if add_bos and tok.bos_token_id is not None:
        ids = [tok.bos_token_id] + ids
    return [int(i) for i in ids]
