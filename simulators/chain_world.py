"""Chain worlds: small exact generative models of one question (spec section 5).

A question is a layered DAG of latent reasoning states. A sample starts at the root and moves
one node per tick; reaching a terminal node finishes it with that node's value. The JSON form::

    {"values": [0.0, 0.5, 1.0],
     "root": 0,
     "nodes": [{"id": 0, "next": [[1, 0.4], [2, 0.6]]},
               {"id": 1, "value": 1.0},
               {"id": 2, "next": [[3, 1.0]]},
               {"id": 3, "value": 0.0}],
     "samples": [{"node": 2}]}

``samples`` (optional) lists samples already created; they count toward the cap. A sample at
a non-terminal node is in progress; one at a terminal node has finished with that node's value
(the best such value is the floor of the maximum).

A world saved by ``ziprc theorem --save-violations`` also carries its objective (``cap``,
``alpha``, ``beta``, and the planner that broke): ``ziprc exact --world FILE`` uses them as
defaults. Keys other than the world's own are ignored here.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from metamdp.exact import MetaState, ProcessError, SampleProcess, build_process, canonical
from metamdp.grids import GridError, RewardGrid

PROB_TOL = 1e-9


class WorldError(ValueError):
    """A chain world is malformed; the message names the offending node or field."""


@dataclass
class ChainWorld:
    """A parsed, validated chain world."""

    values: list
    root: object
    nodes: list  # dicts as in the JSON form
    samples: list = field(default_factory=list)  # node ids of samples created (in progress or finished)

    # ------------------------------------------------------------------ parsing
    @classmethod
    def from_dict(cls, data) -> "ChainWorld":
        if not isinstance(data, dict):
            raise WorldError("a world must be a JSON object with 'values', 'root' and 'nodes'")
        for key in ("values", "root", "nodes"):
            if key not in data:
                raise WorldError(f"world is missing the field {key!r}")
        values = data["values"]
        if not isinstance(values, list) or not values:
            raise WorldError("'values' must be a non-empty list of rewards in [0, 1]")
        for v in values:
            if not _is_number(v):
                raise WorldError(f"'values' holds {v!r}, which is not a finite number")
        try:
            RewardGrid.from_values(values)
        except GridError as e:
            raise WorldError(f"'values': {e}") from None
        nodes = data["nodes"]
        if not isinstance(nodes, list) or not nodes:
            raise WorldError("'nodes' must be a non-empty list")
        seen = set()
        grid = set(float(v) for v in values)
        for k, node in enumerate(nodes):
            if not isinstance(node, dict) or "id" not in node:
                raise WorldError(f"nodes[{k}] has no 'id'")
            nid = node["id"]
            if isinstance(nid, (list, dict)) or nid is None:
                raise WorldError(f"nodes[{k}] has an invalid id {nid!r}")
            if nid in seen:
                raise WorldError(f"node {nid!r} is defined twice")
            seen.add(nid)
            has_value, has_next = "value" in node, "next" in node
            if has_value == has_next:
                raise WorldError(f"node {nid!r} must have exactly one of 'value' (terminal) or 'next'")
            if has_value:
                v = node["value"]
                if not _is_number(v):
                    raise WorldError(f"node {nid!r} has value {v!r}, which is not a finite number")
                if not any(abs(float(v) - g) <= 1e-9 for g in grid):
                    raise WorldError(f"node {nid!r} has value {v!r}, which is not on the grid {values}")
            else:
                nxt = node["next"]
                if not isinstance(nxt, list) or not nxt:
                    raise WorldError(f"node {nid!r}: 'next' must be a non-empty list of [id, probability]")
                total = 0.0
                for item in nxt:
                    if not isinstance(item, (list, tuple)) or len(item) != 2:
                        raise WorldError(f"node {nid!r}: transition {item!r} is not [id, probability]")
                    p = item[1]
                    if not _is_number(p):
                        raise WorldError(f"node {nid!r}: transition probability {p!r} is not a finite number")
                    if p < 0:
                        raise WorldError(f"node {nid!r}: transition probability {p!r} is negative")
                    total += float(p)
                if abs(total - 1.0) > PROB_TOL:
                    raise WorldError(f"node {nid!r}: transition probabilities sum to {total:.12g}, not 1")
        for node in nodes:
            for item in node.get("next", []):
                if item[0] not in seen:
                    raise WorldError(f"node {node['id']!r} points to {item[0]!r}, which does not exist")
        if data["root"] not in seen:
            raise WorldError(f"root {data['root']!r} is not a node")
        samples = []
        raw_samples = data.get("samples", [])
        if not isinstance(raw_samples, list):
            raise WorldError("'samples' must be a list of {\"node\": ID}")
        for k, s in enumerate(raw_samples):
            if not isinstance(s, dict) or "node" not in s:
                raise WorldError(f"samples[{k}] must be an object with a 'node'")
            if s["node"] not in seen:
                raise WorldError(f"samples[{k}] is at node {s['node']!r}, which does not exist")
            samples.append(s["node"])
        world = cls(values=[float(v) for v in values], root=data["root"], nodes=nodes,
                    samples=samples)
        world.process  # structural checks (cycles, layering, reachability)
        return world

    @classmethod
    def load(cls, path) -> "ChainWorld":
        return cls.load_with_params(path)[0]

    @classmethod
    def load_with_params(cls, path) -> tuple["ChainWorld", dict]:
        """The world and the file's other top-level keys (e.g. the ``cap``, ``alpha``,
        ``beta`` and planner flags a saved violation carries)."""
        try:
            text = Path(path).read_text()
        except OSError as e:
            raise WorldError(f"cannot read world file {str(path)!r}: {e.strerror}") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise WorldError(f"{str(path)!r} is not valid JSON: {e}") from None
        world = cls.from_dict(data)
        own = {"values", "root", "nodes", "samples"}
        return world, {k: v for k, v in data.items() if k not in own}

    def to_dict(self) -> dict:
        d = {"values": list(self.values), "root": self.root, "nodes": self.nodes}
        if self.samples:
            d["samples"] = [{"node": n} for n in self.samples]
        return d

    def save(self, path) -> None:
        from simulators.io import write_json_atomic

        write_json_atomic(path, self.to_dict())

    # ------------------------------------------------------------------ engine view
    @property
    def rewards(self) -> RewardGrid:
        return RewardGrid.from_values(self.values)

    @property
    def index(self) -> dict:
        return {node["id"]: k for k, node in enumerate(self.nodes)}

    @property
    def process(self) -> SampleProcess:
        cached = self.__dict__.get("_process")
        if cached is not None:
            return cached
        grid = self.rewards
        idx = self.index
        succ, vidx = [], []
        for node in self.nodes:
            if "value" in node:
                succ.append(())
                vidx.append(grid.index_of(float(node["value"])))
            else:
                succ.append(tuple((idx[m], float(p)) for m, p in node["next"]))
                vidx.append(-1)
        try:
            proc = build_process(grid, idx[self.root], succ, vidx,
                                 labels=tuple(n["id"] for n in self.nodes), tol=PROB_TOL)
        except ProcessError as e:
            raise WorldError(str(e)) from None
        self.__dict__["_process"] = proc
        return proc

    def start_state(self) -> MetaState:
        idx = self.index
        proc = self.process
        nodes = [idx[n] for n in self.samples]
        return canonical([k for k in nodes if not proc.is_terminal(k)],
                         [k for k in nodes if proc.is_terminal(k)])

    @property
    def n_finished(self) -> int:
        idx = self.index
        return sum(1 for n in self.samples if self.process.is_terminal(idx[n]))

    def start_positions(self) -> list:
        """For each unfinished sample in the engine's canonical (sorted) order, its index in
        the world's ``samples`` list."""
        idx = self.index
        proc = self.process
        nodes = [(idx[n], k) for k, n in enumerate(self.samples) if not proc.is_terminal(idx[n])]
        return [k for _, k in sorted(nodes)]


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(float(x))


# --------------------------------------------------------------------------- random worlds


@dataclass(frozen=True)
class WorldShape:
    """Size knobs of the random-world generator.

    The last four avoid degenerate worlds, in which the theorem holds trivially: every layer
    at least ``min_width`` nodes wide (so paths differ), at least ``min_distinct_values``
    distinct terminal values reachable (so outcomes differ), samples in progress placed at
    nodes whose futures still differ (``informative_samples``; with ``shared_prefix`` they
    come in groups on one node, so branching from a prefix is a real alternative), and up to
    ``max_finished`` samples that have already finished (a floor). A world that misses a
    requirement is redrawn from the same generator (see :func:`random_world`).
    """

    max_depth: int = 4
    width: int = 3
    branching: int = 2
    terminal_prob: float = 0.35
    values: tuple = (0.0, 1.0)
    tree: bool = False
    max_samples_in_progress: int = 2
    min_width: int = 1
    min_distinct_values: int = 1
    informative_samples: bool = False
    shared_prefix: bool = False
    max_finished: int = 0


MAX_REDRAWS = 200


def random_world(seed, shape: WorldShape = WorldShape(), rng: np.random.Generator | None = None
                 ) -> ChainWorld:
    """A random layered world. Terminal values lean low on deeper nodes (failures run longer).

    With ``shape.tree`` every node has a single parent, so a node determines its whole path.
    Worlds that miss the shape's non-degeneracy requirements are redrawn from the same
    ``rng`` (deterministic for a seed).
    """
    rng = np.random.default_rng(seed) if rng is None else rng
    for _ in range(MAX_REDRAWS):
        world = _draw_world(shape, rng)
        if world is not None:
            return world
    raise WorldError(f"no world met the shape's requirements in {MAX_REDRAWS} draws: {shape}")


def _reachable_values(world: "ChainWorld") -> list:
    """Per node, the set of terminal value indices reachable from it."""
    proc = world.process
    out = [set() for _ in range(proc.n_nodes)]
    for k in np.argsort(-proc.depth, kind="stable"):
        if proc.is_terminal(k):
            out[k].add(int(proc.value_index[k]))
        for m, _ in proc.successors[k]:
            out[k] |= out[m]
    return out


def _draw_world(shape: WorldShape, rng) -> "ChainWorld | None":
    values = list(shape.values)
    nodes = [{"id": 0}]
    layer = [0]
    next_id = 1
    for depth in range(1, shape.max_depth + 1):
        last = depth == shape.max_depth
        parents = [k for k in layer]
        if not parents:
            break
        if shape.tree:
            children_of = {}
            new_layer = []
            for par in parents:
                kids = list(range(next_id, next_id + int(rng.integers(1, shape.branching + 1))))
                next_id += len(kids)
                children_of[par] = kids
                new_layer += kids
        else:
            w = int(rng.integers(min(shape.min_width, shape.width), shape.width + 1))
            new_layer = list(range(next_id, next_id + w))
            next_id += w
            children_of = {}
            for par in parents:
                k = int(rng.integers(1, min(shape.branching, w) + 1))
                children_of[par] = [int(c) for c in rng.choice(new_layer, size=k, replace=False)]
            # every child needs a parent (no unreachable nodes)
            for c in new_layer:
                if not any(c in kids for kids in children_of.values()):
                    children_of[parents[int(rng.integers(len(parents)))]].append(c)
        for par in parents:
            kids = children_of[par]
            probs = rng.dirichlet(np.ones(len(kids)))
            probs = _round_probs(probs)
            nodes[par]["next"] = [[int(c), float(p)] for c, p in zip(kids, probs)]
        frac = depth / shape.max_depth
        next_layer = []
        for c in new_layer:
            node = {"id": int(c)}
            nodes.append(node)
            if last or (depth >= 1 and rng.random() < shape.terminal_prob):
                # deeper terminals lean towards low values
                weights = np.array([1.0 + (1 - frac) * 2 * i / max(1, len(values) - 1) + frac * 2 * (len(values) - 1 - i)
                                    / max(1, len(values) - 1) for i in range(len(values))])
                node["value"] = float(values[int(rng.choice(len(values), p=weights / weights.sum()))])
            else:
                next_layer.append(c)
        layer = next_layer
    nodes.sort(key=lambda n: n["id"])
    bare = ChainWorld.from_dict({"values": values, "root": 0, "nodes": nodes})
    reach = _reachable_values(bare)
    proc = bare.process
    if len(reach[proc.root]) < shape.min_distinct_values:
        return None
    if shape.min_width > 1 and not shape.tree:
        widths = np.bincount(proc.depth)
        if widths[1:].max(initial=0) < shape.min_width:
            return None
    nonterminal = [n["id"] for n in nodes if "next" in n]
    if shape.informative_samples:
        # a sample whose future is already decided gives the planner nothing to weigh
        nonterminal = [n for n in nonterminal if len(reach[bare.index[n]]) >= 2]
        if not nonterminal:
            return None
    k = int(rng.integers(0, shape.max_samples_in_progress + 1))
    samples = []
    while len(samples) < k:
        node = int(rng.choice(nonterminal))
        copies = int(rng.integers(1, 3)) if shape.shared_prefix else 1
        samples += [node] * min(copies, k - len(samples))
    if shape.max_finished > 0:
        terminal = [n["id"] for n in nodes if "value" in n]
        samples += [int(rng.choice(terminal)) for _ in range(int(rng.integers(0, shape.max_finished + 1)))]
    return ChainWorld.from_dict({"values": values, "root": 0, "nodes": nodes,
                                 "samples": [{"node": s} for s in samples]})


def _round_probs(p: np.ndarray) -> np.ndarray:
    """Round to 6 decimals (readable JSON) while keeping an exact-enough sum of 1."""
    q = np.round(p, 6)
    q = np.maximum(q, 1e-6)
    q[-1] = 1.0 - q[:-1].sum()
    if q[-1] <= 0:
        return p
    return q
