"""Worlds that produce samples and predictions (exact chain worlds first), and the studies
that run the engine's policies on them. Uses :mod:`metamdp`; never the other way round."""
