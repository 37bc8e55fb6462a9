"""Recorded rollouts with per-tick joint predictions, stored as Parquet (one row per sample).

The format is documented in ``docs/traces.md``. Columns (extra columns are allowed and kept):

===============  ======================  ====================================================
column           type                    meaning
===============  ======================  ====================================================
question_id      string                  question the sample answers (rows grouped by it)
sample_id        int32                   index of the sample within its question
difficulty       float64 (nullable)      difficulty of the question, if known
delta            int32                   tokens per tick (decision interval)
reward_values    list<float64>           reward grid ``v_1 < ... < v_B`` (``v_1 = 0``)
length_edges     list<float64>           token edges of the length bins (``L + 1`` values)
tick_tokens      list<int64>             tokens generated at each recorded decision point;
                                         ``tick_tokens[0] == 0`` (before generating)
joints           list<list<float64>>     ``joints[t]``: flat reward-major joint (``B * L``)
                                         predicted after ``tick_tokens[t]`` tokens
total_tokens     int64                   tokens the sample generated in total
finished         bool                    whether the sample finished on its own
answer           string (nullable)       extracted final answer
correct          bool                    whether the answer is correct
value            float64                 the sample's final reward/value
===============  ======================  ====================================================

File-level metadata (seed, version, params, reward_values, length_edges, delta) is stored as
JSON under the Parquet schema metadata key ``ziprc``.

Files are written atomically (temporary file, then :func:`os.replace`) and read in record
batches, so a file larger than memory can be validated and replayed question by question.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .io import atomic_path, json_default

METADATA_KEY = b"ziprc"
FORMAT_VERSION = 1
SUM_TOLERANCE = 1e-6
DEFAULT_BATCH_SIZE = 1024

SCHEMA = pa.schema([
    pa.field("question_id", pa.string(), nullable=False),
    pa.field("sample_id", pa.int32(), nullable=False),
    pa.field("difficulty", pa.float64(), nullable=True),
    pa.field("delta", pa.int32(), nullable=False),
    pa.field("reward_values", pa.list_(pa.float64()), nullable=False),
    pa.field("length_edges", pa.list_(pa.float64()), nullable=False),
    pa.field("tick_tokens", pa.list_(pa.int64()), nullable=False),
    pa.field("joints", pa.list_(pa.list_(pa.float64())), nullable=False),
    pa.field("total_tokens", pa.int64(), nullable=False),
    pa.field("finished", pa.bool_(), nullable=False),
    pa.field("answer", pa.string(), nullable=True),
    pa.field("correct", pa.bool_(), nullable=False),
    pa.field("value", pa.float64(), nullable=False),
])
REQUIRED_COLUMNS = tuple(SCHEMA.names)
NULLABLE_COLUMNS = ("difficulty", "answer")


class TraceError(ValueError):
    """A trace file or trace rows are malformed; the message names the row and question."""


# --------------------------------------------------------------------------- data classes


@dataclass
class TraceSample:
    """One recorded sample, with its joints as a ``(T, B, L)`` array."""

    question_id: str
    sample_id: int
    difficulty: float | None
    delta: int
    reward_values: np.ndarray
    length_edges: np.ndarray
    tick_tokens: np.ndarray
    joints: np.ndarray
    total_tokens: int
    finished: bool
    answer: str | None
    correct: bool
    value: float
    extra: dict = field(default_factory=dict)


@dataclass
class QuestionTraces:
    """All recorded samples of one question (what :func:`read_traces` yields)."""

    question_id: str
    samples: list

    @property
    def difficulty(self) -> float | None:
        return self.samples[0].difficulty if self.samples else None


# --------------------------------------------------------------------------- writing


def trace_table(rows: list, metadata: dict, extra_fields=()) -> pa.Table:
    """Validate ``rows`` and return them as one Arrow table carrying the ``ziprc`` metadata.

    Parameters
    ----------
    rows : list of dict
        One dict per sample with the columns of :data:`SCHEMA` (``joints`` may be a list of
        flat lists or an array of shape ``(T, B*L)`` or ``(T, B, L)``). Rows of one question
        must be contiguous. Extra keys become extra columns.
    metadata : dict
        File-level metadata (``seed``, ``params``, ...). ``version``, ``reward_values``,
        ``length_edges`` and ``delta`` default to the package version and the first row's.
    extra_fields : sequence of pyarrow.Field
        Types of extra columns (inferred from the values otherwise; give them when several
        tables must share one schema, e.g. shards of one file, whose values may be all null).

    Raises
    ------
    TraceError
        If a row is malformed (the message names the row and its question id).
    """
    if not rows:
        raise TraceError("no rows to write: a trace file needs at least one sample")
    typed = {f.name: f for f in extra_fields}
    columns = {name: [] for name in REQUIRED_COLUMNS}
    extra_names = sorted(({k for r in rows for k in r} | set(typed)) - set(REQUIRED_COLUMNS))
    for name in extra_names:
        columns[name] = []
    for i, r in enumerate(rows):
        missing = [c for c in REQUIRED_COLUMNS if c not in r and c not in NULLABLE_COLUMNS]
        if missing:
            raise TraceError(f"row {i} (question {r.get('question_id')!r}) lacks {', '.join(missing)}")
        for name in columns:
            v = r.get(name)
            if name == "joints":
                a = np.asarray(v, dtype=np.float64)
                v = a.reshape(a.shape[0], -1).tolist() if a.ndim >= 2 else [list(np.atleast_1d(a))]
            elif isinstance(v, np.ndarray):
                v = v.tolist()
            elif isinstance(v, np.generic):
                v = v.item()
            columns[name].append(v)
    arrays = []
    fields = list(SCHEMA)
    for name in extra_names:
        fields.append(typed.get(name) or pa.field(name, pa.infer_type(columns[name]) if columns[name] else pa.null()))
    try:
        for f in fields:
            arrays.append(pa.array(columns[f.name], type=f.type))
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError) as e:
        raise TraceError(f"column {f.name!r} cannot be stored as {f.type}: {e}") from None
    first = rows[0]
    meta = {"format_version": FORMAT_VERSION, "version": _package_version(), "seed": None,
            "params": {},
            "reward_values": [float(x) for x in np.asarray(first["reward_values"]).ravel()],
            "length_edges": [float(x) for x in np.asarray(first["length_edges"]).ravel()],
            "delta": int(first["delta"])}
    meta.update(metadata or {})
    _check_metadata(meta)
    schema = pa.schema(fields, metadata={METADATA_KEY: json.dumps(meta, default=json_default)})
    table = pa.Table.from_arrays(arrays, schema=schema)
    _validate_batch(table, 0, meta, _GroupTracker())
    return table


def write_traces(path, rows: list, metadata: dict, extra_fields=()) -> None:
    """Validate ``rows`` (see :func:`trace_table`) and write them to ``path`` atomically."""
    table = trace_table(rows, metadata, extra_fields)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def write_trace_parts(parts, path, metadata: dict | None = None, order=None,
                      batch_size: int = DEFAULT_BATCH_SIZE) -> dict:
    """Concatenate trace files written as parts of one run (same schema) into ``path``,
    streaming, validated batch by batch, atomically.

    ``order``: row indices into the parts' concatenation (file order), for example to put
    the rows of a question together; None keeps the parts' order. ``metadata`` replaces the
    first part's ``ziprc`` metadata when given. Memory holds one batch of ``batch_size`` rows
    (the parts are memory-mapped). Returns :func:`validate_traces`' summary of the result.
    """
    parts = [str(p) for p in parts]
    if not parts:
        raise TraceError("no parts to concatenate")
    tables = [pq.read_table(p, memory_map=True) for p in parts]
    schema = tables[0].schema
    for p, t in zip(parts[1:], tables[1:]):
        if t.schema.remove_metadata() != schema.remove_metadata():
            raise TraceError(f"{p}: its columns differ from {parts[0]}'s; parts of one file must share a schema")
    meta = dict(json.loads(schema.metadata[METADATA_KEY]))
    meta.update(metadata or {})
    _check_metadata(meta)
    schema = schema.with_metadata({METADATA_KEY: json.dumps(meta, default=json_default)})
    whole = pa.concat_tables([t.replace_schema_metadata(schema.metadata) for t in tables])
    n = whole.num_rows
    if n == 0:
        raise TraceError("the parts have no rows")
    index = np.arange(n) if order is None else np.asarray(order, dtype=np.int64)
    if index.shape != (n,) or not np.array_equal(np.sort(index), np.arange(n)):
        raise TraceError(f"order must be a permutation of the {n} rows of the parts")
    tracker, ticks = _GroupTracker(), 0
    with atomic_path(path) as tmp:
        with pq.ParquetWriter(tmp, schema) as w:
            for a in range(0, n, int(batch_size)):
                batch = whole.take(pa.array(index[a:a + int(batch_size)]))
                ticks += _validate_batch(batch, a, meta, tracker)
                w.write_table(batch)
    return {"rows": n, "questions": len(tracker.seen), "ticks": ticks}


# --------------------------------------------------------------------------- reading


def read_metadata(path) -> dict:
    """The file-level ``ziprc`` metadata of a trace file (a dict)."""
    schema = _open(path).schema_arrow
    raw = (schema.metadata or {}).get(METADATA_KEY)
    if raw is None:
        raise TraceError(f"{path}: no 'ziprc' metadata in the Parquet schema (not a trace file?)")
    try:
        meta = json.loads(raw)
    except json.JSONDecodeError as e:
        raise TraceError(f"{path}: the 'ziprc' metadata is not valid JSON ({e})") from None
    _check_metadata(meta, str(path))
    return meta


def iter_record_batches(path, batch_size: int = DEFAULT_BATCH_SIZE) -> Iterator[pa.RecordBatch]:
    """Stream the file as Arrow record batches of at most ``batch_size`` rows."""
    if int(batch_size) < 1:
        raise TraceError(f"batch_size must be >= 1, got {batch_size!r}")
    pf = _open(path)
    _check_columns(pf.schema_arrow, str(path))
    yield from pf.iter_batches(batch_size=int(batch_size))


def read_traces(path, batch_size: int = DEFAULT_BATCH_SIZE,
                validate: bool = True) -> Iterator[QuestionTraces]:
    """Stream a trace file question by question.

    Only one record batch plus the samples of the current question are in memory at once.

    Parameters
    ----------
    path : str or Path
    batch_size : int
        Rows per record batch read from disk.
    validate : bool
        Check every batch as it streams past (same checks as :func:`validate_traces`).

    Yields
    ------
    QuestionTraces
        The samples of one question, in file order.
    """
    meta = read_metadata(path)
    tracker = _GroupTracker()
    current: QuestionTraces | None = None
    offset = 0
    for batch in iter_record_batches(path, batch_size):
        if validate:
            _validate_batch(batch, offset, meta, tracker)
        for sample in _batch_samples(batch):
            if current is not None and sample.question_id != current.question_id:
                yield current
                current = None
            if current is None:
                current = QuestionTraces(question_id=sample.question_id, samples=[])
            current.samples.append(sample)
        offset += batch.num_rows
    if current is not None:
        yield current


def validate_traces(path, batch_size: int = DEFAULT_BATCH_SIZE) -> dict:
    """Check a whole trace file, streaming; return a summary or raise :class:`TraceError`.

    Checks: the ``ziprc`` metadata, required columns, nulls in non-nullable columns, every
    row's grids against the metadata, joint sizes (``B * L``), joints non-negative and
    summing to 1 within 1e-6, no NaN anywhere, ``len(joints) == len(tick_tokens)``,
    ``tick_tokens`` starting at 0 and strictly increasing, ``total_tokens`` at least the last
    tick, and rows of one question contiguous.

    Returns
    -------
    dict
        ``{"rows": ..., "questions": ..., "ticks": ...}``.
    """
    meta = read_metadata(path)
    tracker = _GroupTracker()
    offset = 0
    ticks = 0
    for batch in iter_record_batches(path, batch_size):
        ticks += _validate_batch(batch, offset, meta, tracker)
        offset += batch.num_rows
    if offset == 0:
        raise TraceError(f"{path}: the file has no rows")
    return {"rows": offset, "questions": len(tracker.seen), "ticks": ticks}


# --------------------------------------------------------------------------- internals


class _GroupTracker:
    """Remembers question ids across batches to check that each question is contiguous."""

    def __init__(self):
        self.seen: set = set()
        self.last = None

    def see(self, qid, row):
        if qid != self.last:
            if qid in self.seen:
                raise TraceError(f"row {row} (question {qid!r}): rows of a question must be "
                                 "contiguous, but this question appeared earlier")
            self.seen.add(qid)
            self.last = qid


def _open(path) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(str(path))
    except FileNotFoundError:
        raise TraceError(f"{path}: no such trace file") from None
    except (pa.ArrowInvalid, OSError) as e:
        raise TraceError(f"{path}: not a readable Parquet file ({e})") from None


def _check_columns(schema: pa.Schema, where: str = "traces"):
    missing = [c for c in REQUIRED_COLUMNS if c not in schema.names]
    if missing:
        raise TraceError(f"{where}: missing column(s) {', '.join(missing)}")
    for f in SCHEMA:
        got = schema.field(f.name).type
        ok = got == f.type or (f.name == "question_id" and pa.types.is_large_string(got))
        if not ok:
            raise TraceError(f"{where}: column {f.name!r} has type {got}, expected {f.type}")


def _check_metadata(meta: dict, where: str = "metadata"):
    if not isinstance(meta, dict):
        raise TraceError(f"{where}: 'ziprc' metadata must be a JSON object")
    for key in ("reward_values", "length_edges", "delta"):
        if key not in meta:
            raise TraceError(f"{where}: 'ziprc' metadata lacks {key!r}")
    v = np.asarray(meta["reward_values"], dtype=np.float64)
    e = np.asarray(meta["length_edges"], dtype=np.float64)
    if v.ndim != 1 or v.size < 2 or not np.all(np.isfinite(v)) or np.any(np.diff(v) <= 0):
        raise TraceError(f"{where}: reward_values must be >= 2 strictly increasing numbers, got {meta['reward_values']}")
    if v[0] != 0.0 or v[-1] > 1.0:
        raise TraceError(f"{where}: reward_values must start at 0 and lie in [0, 1], got {meta['reward_values']}")
    if e.ndim != 1 or e.size < 2 or not np.all(np.isfinite(e)) or np.any(np.diff(e) <= 0) or e[0] != 0:
        raise TraceError(f"{where}: length_edges must start at 0 and strictly increase, got {meta['length_edges']}")
    if int(meta["delta"]) != meta["delta"] or int(meta["delta"]) < 1:
        raise TraceError(f"{where}: delta must be a positive integer, got {meta['delta']!r}")


def _first_bad(bad: np.ndarray) -> int:
    return int(np.flatnonzero(bad)[0])


def _validate_batch(batch, offset: int, meta: dict, tracker: _GroupTracker) -> int:
    """Vectorised checks of one batch (Table or RecordBatch); returns its number of ticks."""
    _check_columns(batch.schema)
    n = batch.num_rows
    if n == 0:
        return 0
    qids = batch.column("question_id").to_pylist()

    def fail(i, msg):
        raise TraceError(f"row {offset + i} (question {qids[i]!r}): {msg}")

    for name in REQUIRED_COLUMNS:
        if name in NULLABLE_COLUMNS:
            continue
        col = batch.column(name)
        if col.null_count:
            fail(_first_bad(np.asarray(col.is_null())), f"{name} is null")
    for i, q in enumerate(qids):
        tracker.see(q, offset + i)
    values = np.asarray(meta["reward_values"], dtype=np.float64)
    edges = np.asarray(meta["length_edges"], dtype=np.float64)
    B, L = values.size, edges.size - 1
    # per-row grids must match the file metadata
    for name, ref in (("reward_values", values), ("length_edges", edges)):
        col = _combine(batch.column(name))
        lens = np.diff(np.asarray(col.offsets))
        if np.any(lens != ref.size):
            fail(_first_bad(lens != ref.size), f"{name} has {lens[lens != ref.size][0]} entries, "
                 f"the file's metadata has {ref.size}")
        flat = np.asarray(col.flatten(), dtype=np.float64).reshape(n, ref.size)
        bad = np.any(~np.isclose(flat, ref[None, :], rtol=0, atol=1e-12), axis=1)
        if np.any(bad):
            i = _first_bad(bad)
            fail(i, f"{name} {flat[i].tolist()} differs from the file's metadata {ref.tolist()}")
    delta = np.asarray(batch.column("delta"))
    if np.any(delta != int(meta["delta"])):
        i = _first_bad(delta != int(meta["delta"]))
        fail(i, f"delta {delta[i]} differs from the file's metadata ({meta['delta']})")
    for name in ("value", "difficulty"):
        arr = np.asarray(batch.column(name).to_numpy(zero_copy_only=False), dtype=np.float64)
        col = batch.column(name)
        isnull = np.asarray(col.is_null()) if col.null_count else np.zeros(n, dtype=bool)
        bad = np.isnan(arr) & ~isnull
        if np.any(bad):
            fail(_first_bad(bad), f"{name} is NaN")
    value = np.asarray(batch.column("value"), dtype=np.float64)
    bad = ~np.isfinite(value) | (value < 0) | (value > 1)
    if np.any(bad):
        fail(_first_bad(bad), f"value {value[_first_bad(bad)]!r} is outside [0, 1]")
    # ticks: count, start at 0, strictly increasing
    tt = _combine(batch.column("tick_tokens"))
    t_off = np.asarray(tt.offsets)
    n_ticks = np.diff(t_off)
    if np.any(n_ticks < 1):
        fail(_first_bad(n_ticks < 1), "tick_tokens is empty (needs at least tick 0)")
    tick_vals = np.asarray(tt.flatten(), dtype=np.int64)
    starts = t_off[:-1] - t_off[0]
    if np.any(tick_vals[starts] != 0):
        i = _first_bad(tick_vals[starts] != 0)
        fail(i, f"tick_tokens[0] is {tick_vals[starts[i]]}, must be 0 (before generating)")
    steps = np.diff(tick_vals)
    # a step crossing a row boundary is not a step: mask those
    in_row = np.ones(steps.size, dtype=bool)
    boundaries = (t_off[1:-1] - t_off[0]) - 1
    in_row[boundaries[(boundaries >= 0) & (boundaries < steps.size)]] = False
    bad_step = (steps <= 0) & in_row
    if np.any(bad_step):
        k = _first_bad(bad_step)
        i = int(np.searchsorted(t_off[1:] - t_off[0], k, side="right"))
        fail(i, f"tick_tokens must strictly increase, but goes {tick_vals[k]} -> {tick_vals[k + 1]}")
    last_tick = tick_vals[t_off[1:] - t_off[0] - 1]
    total = np.asarray(batch.column("total_tokens"), dtype=np.int64)
    if np.any(total < last_tick):
        i = _first_bad(total < last_tick)
        fail(i, f"total_tokens {total[i]} is below the last recorded tick ({last_tick[i]} tokens)")
    # joints: one per tick, each of size B*L, finite, non-negative, normalised
    jc = _combine(batch.column("joints"))
    j_off = np.asarray(jc.offsets)
    n_joints = np.diff(j_off)
    if np.any(n_joints != n_ticks):
        i = _first_bad(n_joints != n_ticks)
        fail(i, f"ragged ticks: {n_joints[i]} joints but {n_ticks[i]} tick_tokens")
    inner = jc.flatten()
    inner = _combine(inner)
    in_off = np.asarray(inner.offsets)
    sizes = np.diff(in_off)
    row_of_tick = np.repeat(np.arange(n), n_joints)
    if np.any(sizes != B * L):
        k = _first_bad(sizes != B * L)
        i = int(row_of_tick[k])
        fail(i, f"joint at tick {k - (j_off[i] - j_off[0])} has {sizes[k]} entries, "
             f"expected {B} x {L} = {B * L}")
    flat = np.asarray(inner.flatten(), dtype=np.float64)
    if flat.size:
        mat = flat.reshape(-1, B * L)
        nan_rows = ~np.all(np.isfinite(mat), axis=1)
        if np.any(nan_rows):
            k = _first_bad(nan_rows)
            i = int(row_of_tick[k])
            fail(i, f"joint at tick {k - (j_off[i] - j_off[0])} contains NaN or infinite entries")
        neg = np.any(mat < 0, axis=1)
        if np.any(neg):
            k = _first_bad(neg)
            i = int(row_of_tick[k])
            fail(i, f"joint at tick {k - (j_off[i] - j_off[0])} has negative entries")
        sums = mat.sum(axis=1)
        off = np.abs(sums - 1.0) > SUM_TOLERANCE
        if np.any(off):
            k = _first_bad(off)
            i = int(row_of_tick[k])
            fail(i, f"joint at tick {k - (j_off[i] - j_off[0])} sums to {sums[k]:.10g}, "
                 f"not 1 (tolerance {SUM_TOLERANCE:g})")
    return int(n_ticks.sum())


def _combine(col):
    """A ChunkedArray or Array as one Array (batches from disk are single-chunk)."""
    if isinstance(col, pa.ChunkedArray):
        return col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    return col


def _batch_samples(batch) -> list:
    """The rows of a batch as :class:`TraceSample` objects (joints as ``(T, B, L)``)."""
    n = batch.num_rows
    if n == 0:
        return []
    cols = {name: batch.column(name) for name in batch.schema.names}
    rv = _combine(cols["reward_values"])
    le = _combine(cols["length_edges"])
    tt = _combine(cols["tick_tokens"])
    jc = _combine(cols["joints"])
    rv_off, le_off, tt_off, j_off = (np.asarray(a.offsets) for a in (rv, le, tt, jc))
    rv_flat = np.asarray(rv.flatten(), dtype=np.float64)
    le_flat = np.asarray(le.flatten(), dtype=np.float64)
    tt_flat = np.asarray(tt.flatten(), dtype=np.int64)
    inner = _combine(jc.flatten())
    in_off = np.asarray(inner.offsets)
    j_flat = np.asarray(inner.flatten(), dtype=np.float64)
    base_rv, base_le, base_tt, base_j, base_in = rv_off[0], le_off[0], tt_off[0], j_off[0], in_off[0]
    qid = cols["question_id"].to_pylist()
    sid = cols["sample_id"].to_pylist()
    diff = cols["difficulty"].to_pylist()
    delta = cols["delta"].to_pylist()
    total = cols["total_tokens"].to_pylist()
    fin = cols["finished"].to_pylist()
    ans = cols["answer"].to_pylist()
    cor = cols["correct"].to_pylist()
    val = cols["value"].to_pylist()
    extra_names = [c for c in batch.schema.names if c not in REQUIRED_COLUMNS]
    extras = {name: cols[name].to_pylist() for name in extra_names}
    out = []
    for i in range(n):
        values = rv_flat[rv_off[i] - base_rv:rv_off[i + 1] - base_rv]
        edges = le_flat[le_off[i] - base_le:le_off[i + 1] - base_le]
        B, L = values.size, edges.size - 1
        t0, t1 = j_off[i] - base_j, j_off[i + 1] - base_j
        a = in_off[t0] - base_in
        b = in_off[t1] - base_in
        joints = j_flat[a:b].reshape(t1 - t0, B, L)
        out.append(TraceSample(
            question_id=qid[i], sample_id=int(sid[i]), difficulty=diff[i], delta=int(delta[i]),
            reward_values=values, length_edges=edges,
            tick_tokens=tt_flat[tt_off[i] - base_tt:tt_off[i + 1] - base_tt], joints=joints,
            total_tokens=int(total[i]), finished=bool(fin[i]), answer=ans[i],
            correct=bool(cor[i]), value=float(val[i]),
            extra={name: extras[name][i] for name in extra_names}))
    return out


def _package_version() -> str:
    try:
        import metamdp

        return metamdp.__version__
    except Exception:  # pragma: no cover - metamdp is always importable in this project
        return "unknown"
