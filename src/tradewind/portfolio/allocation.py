"""Capital across agents: by each agent's recent expectancy, with a floor (seed 004).

Until the performance model (the ML milestone) takes over, an agent's share grows with the
mean return per trade of its recent real and sim trades. A floor keeps every agent
trading — a cold agent, or one in a bad patch, still produces the real and sim trades its
models learn from. Shares always add up to the capital given.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numba import njit

from tradewind.errors import ConfigError

__all__ = ["allocate", "allocation_shares"]


@njit(cache=True)
def allocation_shares(capital: float, edge: np.ndarray, floor: float) -> np.ndarray:
    """The split of :func:`allocate` over an array of expectancies (compiled: the session's
    bar loop rebalances with it every UTC day)."""
    n = len(edge)
    shares = np.zeros(n)
    if n == 0:
        return shares
    positive = np.zeros(n)
    total = 0.0
    for i in range(n):
        e = edge[i]
        if np.isfinite(e) and e > 0.0:
            positive[i] = e
            total += e
    rest = (1.0 - floor) * capital
    for i in range(n):
        weight = positive[i] / total if total > 0.0 else 1.0 / n
        shares[i] = floor * capital / n + rest * weight
    return shares


def allocate(
    capital: float, expectancy: Mapping[str, float], floor: float = 0.1
) -> dict[str, float]:
    """Split ``capital`` among agents: each gets ``floor / n`` of it, the rest in proportion
    to its positive expectancy (equally when no agent has a positive one).

    ``expectancy`` maps agent name → mean return per trade (NaN = no history yet, treated
    as zero). ``floor`` in [0, 1] is the share of capital spread equally first.
    """
    if not 0 <= floor <= 1:
        raise ConfigError(f"allocation floor = {floor!r} must be between 0 and 1")
    if capital < 0:
        raise ConfigError(f"capital = {capital!r} must not be negative")
    names = list(expectancy)
    if not names:
        return {}
    edge = np.array([expectancy[n] for n in names], dtype=np.float64)
    shares = allocation_shares(float(capital), edge, float(floor))
    return {name: float(share) for name, share in zip(names, shares, strict=True)}
