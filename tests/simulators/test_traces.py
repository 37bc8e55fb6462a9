"""Recorded-trace Parquet format: round trip, streaming, and rejection of malformed files."""

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from metamdp.grids import OFFICIAL_LENGTH_EDGES
from simulators.traces import REQUIRED_COLUMNS, TraceError, read_metadata, read_traces, validate_traces, write_traces

VALUES = [0.0, 1.0]
B, L = 2, 8


def _joint(rng):
    p = rng.random(B * L)
    return p / p.sum()


def make_rows(n_questions=3, n_samples=2, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for q in range(n_questions):
        for s in range(n_samples):
            T = int(rng.integers(1, 6))
            ticks = (np.arange(T) * 64).tolist()
            rows.append({"question_id": f"q{q}", "sample_id": s, "difficulty": 0.5 if q else None,
                         "delta": 64, "reward_values": VALUES,
                         "length_edges": list(OFFICIAL_LENGTH_EDGES), "tick_tokens": ticks,
                         "joints": [_joint(rng).tolist() for _ in range(T)],
                         "total_tokens": ticks[-1] + 10, "finished": True,
                         "answer": str(s), "correct": bool(s % 2), "value": float(s % 2)})
    return rows


def test_round_trip_and_metadata(tmp_path):
    rows = make_rows()
    path = tmp_path / "t.parquet"
    write_traces(path, rows, {"seed": 7, "params": {"suite": "x"}})
    meta = read_metadata(path)
    assert meta["seed"] == 7 and meta["params"] == {"suite": "x"}
    assert meta["reward_values"] == VALUES and meta["delta"] == 64
    assert meta["length_edges"] == list(OFFICIAL_LENGTH_EDGES)
    groups = list(read_traces(path, batch_size=1))  # one row per batch: groups span batches
    assert [g.question_id for g in groups] == ["q0", "q1", "q2"]
    flat = [s for g in groups for s in g.samples]
    assert len(flat) == len(rows)
    for r, s in zip(rows, flat):
        assert s.sample_id == r["sample_id"] and s.difficulty == r["difficulty"]
        np.testing.assert_array_equal(s.tick_tokens, r["tick_tokens"])
        np.testing.assert_array_equal(s.joints.reshape(len(r["tick_tokens"]), -1), np.array(r["joints"]))
        assert s.joints.shape[1:] == (B, L)
        assert s.answer == r["answer"] and s.correct == r["correct"]
    summary = validate_traces(path, batch_size=2)
    assert summary["rows"] == len(rows) and summary["questions"] == 3
    assert summary["ticks"] == sum(len(r["tick_tokens"]) for r in rows)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # temp file gone


def _raw_write(path, rows, meta=None, drop=None):
    """Write rows bypassing write_traces' validation (to build malformed files)."""
    cols = {c: [r[c] for r in rows] for c in REQUIRED_COLUMNS if c != drop}
    table = pa.table(cols)
    from simulators.traces import SCHEMA
    table = pa.Table.from_arrays([pa.array(cols[f.name], type=f.type) for f in SCHEMA if f.name != drop],
                                 names=[f.name for f in SCHEMA if f.name != drop])
    meta = meta or {"reward_values": VALUES, "length_edges": list(OFFICIAL_LENGTH_EDGES), "delta": 64}
    table = table.replace_schema_metadata({b"ziprc": json.dumps(meta)})
    pq.write_table(table, path)


@pytest.mark.parametrize("mutate, pattern", [
    (lambda r: r.__setitem__("joints", [j[:-1] for j in r["joints"]]), "entries, expected 2 x 8"),
    (lambda r: r.__setitem__("joints", [[x * 1.01 for x in j] for j in r["joints"]]), "not 1"),
    (lambda r: r["joints"][0].__setitem__(3, float("nan")), "NaN"),
    (lambda r: r.__setitem__("joints", r["joints"] + [r["joints"][0]]), "ragged ticks"),
    (lambda r: r.__setitem__("tick_tokens", [0] * len(r["tick_tokens"])), "strictly increase"),
    (lambda r: r.__setitem__("tick_tokens", [5 + t for t in r["tick_tokens"]]), "must be 0"),
    (lambda r: r.__setitem__("value", float("nan")), "NaN"),
])
def test_malformed_rows_are_named(tmp_path, mutate, pattern):
    rows = make_rows(n_questions=3, n_samples=2)
    for r in rows:  # ensure every sample has >= 2 ticks so every mutation applies
        if len(r["tick_tokens"]) < 2:
            r["tick_tokens"] = [0, 64]
            r["joints"] = r["joints"] * 2
            r["total_tokens"] = 100
    bad = 3  # row 3 = question q1
    mutate(rows[bad])
    path = tmp_path / "bad.parquet"
    _raw_write(path, rows)
    with pytest.raises(TraceError, match=pattern) as e:
        validate_traces(path, batch_size=2)
    assert "row 3" in str(e.value) and "'q1'" in str(e.value)
    with pytest.raises(TraceError, match="row 3"):
        write_traces(tmp_path / "w.parquet", rows, {})
    assert not (tmp_path / "w.parquet").exists()


def test_missing_column_and_metadata(tmp_path):
    rows = make_rows()
    path = tmp_path / "m.parquet"
    _raw_write(path, rows, drop="joints")
    with pytest.raises(TraceError, match="missing column.*joints"):
        validate_traces(path)
    table = pq.read_table(tmp_path / "m.parquet").replace_schema_metadata({})
    pq.write_table(table, tmp_path / "nometa.parquet")
    with pytest.raises(TraceError, match="no 'ziprc' metadata"):
        validate_traces(tmp_path / "nometa.parquet")


def test_non_contiguous_question_rejected(tmp_path):
    rows = make_rows(n_questions=2, n_samples=1)
    rows.append(dict(rows[0], sample_id=5))
    with pytest.raises(TraceError, match="row 2 \\(question 'q0'\\).*contiguous"):
        write_traces(tmp_path / "x.parquet", rows, {})


def test_streaming_reads_in_batches(tmp_path):
    # a file with many row groups: reading one question at a time must not need the whole file
    rows = make_rows(n_questions=40, n_samples=3, seed=1)
    path = tmp_path / "big.parquet"
    write_traces(path, rows, {"seed": 1})
    it = read_traces(path, batch_size=4)
    first = next(it)
    assert first.question_id == "q0" and len(first.samples) == 3
    assert sum(1 for _ in it) == 39
