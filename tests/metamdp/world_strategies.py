"""Hypothesis strategies that build chain worlds from their parts, so that a failing property
shrinks to a small world (fewer layers, fewer nodes, simpler probabilities)."""

from hypothesis import strategies as st

from simulators.chain_world import ChainWorld

VALUE_GRIDS = ([0.0, 1.0], [0.0, 0.5, 1.0])


@st.composite
def chain_worlds(draw, max_depth=4, max_width=3, max_samples=3, min_depth=1, min_width=1,
                 max_finished=0):
    """A layered world; ``min_width`` nodes per layer at least; up to ``max_finished``
    samples that have already finished (listed at terminal nodes)."""
    values = draw(st.sampled_from(VALUE_GRIDS))
    depth = draw(st.integers(min_depth, max_depth))
    nodes = {0: {"id": 0}}
    layer = [0]  # non-terminal nodes of the current layer
    next_id = 1
    for d in range(1, depth + 1):
        if not layer:
            break
        width = draw(st.integers(min(min_width, max_width), max_width))
        kids = list(range(next_id, next_id + width))
        next_id += width
        children = {}
        for parent in layer:
            picks = draw(st.lists(st.booleans(), min_size=width, max_size=width))
            chosen = [k for k, p in zip(kids, picks) if p] or [kids[0]]
            children[parent] = chosen
        for k in kids:  # every node needs a parent
            if not any(k in c for c in children.values()):
                children[layer[0]].append(k)
        for parent, chosen in children.items():
            weights = [draw(st.integers(1, 4)) for _ in chosen]
            total = sum(weights)
            probs = [w / total for w in weights]
            probs[-1] = 1.0 - sum(probs[:-1])
            nodes[parent]["next"] = [[k, p] for k, p in zip(chosen, probs)]
        new_layer = []
        for k in kids:
            node = {"id": k}
            if d == depth or draw(st.booleans()):
                node["value"] = draw(st.sampled_from(values))
            else:
                new_layer.append(k)
            nodes[k] = node
        layer = new_layer
    open_nodes = [k for k, n in nodes.items() if "next" in n]
    samples = draw(st.lists(st.sampled_from(open_nodes), max_size=max_samples))
    if max_finished:
        done = [k for k, n in nodes.items() if "value" in n]
        samples += draw(st.lists(st.sampled_from(done), max_size=max_finished))
    return ChainWorld.from_dict({"values": values, "root": 0,
                                 "nodes": [nodes[k] for k in sorted(nodes)],
                                 "samples": [{"node": s} for s in samples]})


@st.composite
def theorem_instances(draw, nondegenerate=False, **kwargs):
    """``(world, cap, alpha, beta)``. ``nondegenerate`` draws worlds two or more nodes wide
    and two or more ticks deep, a cap of at least two samples, sometimes a finished sample,
    and costs that leave room to act (tests still ``assume`` away the trivial cases)."""
    if nondegenerate:
        kwargs = {"min_width": 2, "min_depth": 2, "max_finished": 1, **kwargs}
    world = draw(chain_worlds(**kwargs))
    cap = max(2 if nondegenerate else 1, len(world.samples) + draw(st.integers(0, 2)))
    alpha = draw(st.sampled_from([0.0, 0.1, 0.5, 0.9, 1.0]) | st.floats(0, 1))
    betas = [0.05, 0.1, 0.3] if nondegenerate else [0.0, 0.05, 0.3, 1.0]
    beta = draw(st.sampled_from(betas) | st.floats(0, 0.6 if nondegenerate else 1.5))
    return world, cap, alpha, beta
