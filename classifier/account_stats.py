"""The small statistics behind the account tables: a Wilson interval, a Poisson tail, a
median and a Theil-Sen slope.

Written out here (a dozen lines each) rather than imported from ``scipy.stats``, whose
import costs about half a second of start-up that plain scoring should not pay.
"""

from __future__ import annotations

import math
from typing import Sequence

#: z for a two-sided 95% interval.
Z_95 = 1.959963984540054


def wilson_interval(successes: int, trials: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of a proportion ``successes / trials`` (95% by default).

    Unlike the normal approximation it stays inside [0, 1] and is sensible for small
    counts and for proportions of 0 or 1, which a handful of posts often gives.

    >>> [round(x, 3) for x in wilson_interval(8, 10)]
    [0.49, 0.943]
    """
    if trials <= 0:
        raise ValueError(f"trials must be positive, got {trials}")
    if not 0 <= successes <= trials:
        raise ValueError(f"successes must lie in 0..{trials}, got {successes}")
    p = successes / trials
    z2 = z * z
    denominator = 1 + z2 / trials
    centre = (p + z2 / (2 * trials)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials))
    return max(0.0, centre - half), min(1.0, centre + half)


def poisson_tail(k: int, rate: float) -> float:
    """P(X >= k) for X ~ Poisson(``rate``): how surprising ``k`` events are at that rate.

    Summed in log space from the k-th term upwards (for k above the rate the terms
    shrink geometrically), so large counts and rates neither overflow nor underflow
    into a wrong 0.

    >>> round(poisson_tail(6, 1.0), 5)
    0.00059
    """
    if rate <= 0:
        raise ValueError(f"rate must be positive, got {rate}")
    if k <= 0:
        return 1.0
    if k <= rate:
        # The upper tail from at or below the mean is large; take it as 1 - the lower tail.
        lower = sum(math.exp(i * math.log(rate) - rate - math.lgamma(i + 1)) for i in range(k))
        return max(0.0, 1.0 - lower)
    log_term = k * math.log(rate) - rate - math.lgamma(k + 1)
    total, term, i = 0.0, 1.0, k
    while term > 1e-17 * total or total == 0.0:
        total += term
        i += 1
        term *= rate / i
    return min(1.0, math.exp(log_term) * total)


def two_proportion_p(successes_a: int, trials_a: int, successes_b: int, trials_b: int) -> float:
    """Two-sided p-value that two proportions differ only by chance (the pooled z-test).

    >>> round(two_proportion_p(2, 20, 12, 20), 4)
    0.0009
    """
    if trials_a <= 0 or trials_b <= 0:
        raise ValueError(f"trials must be positive, got {trials_a} and {trials_b}")
    pooled = (successes_a + successes_b) / (trials_a + trials_b)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / trials_a + 1 / trials_b))
    difference = successes_b / trials_b - successes_a / trials_a
    if spread == 0:
        return 1.0  # both proportions 0, or both 1
    return math.erfc(abs(difference) / spread / math.sqrt(2))


def median(values: Sequence[float]) -> float:
    """The median of a non-empty sequence (the mean of the middle two for an even count)."""
    if not values:
        raise ValueError("median of an empty sequence")
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return float(ordered[middle])
    return (ordered[middle - 1] + ordered[middle]) / 2


def theil_sen_slope(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """The Theil-Sen slope of ``ys`` against ``xs``: the median of the slopes between every
    pair of points with different x (None with fewer than two distinct x).

    Robust to outliers (a week with one odd post moves it little), which a trend of a
    noisy per-week share needs; quadratic in the number of points, which is fine for
    the few hundred weeks an account can span.

    >>> round(theil_sen_slope([0, 1, 2, 3], [0.0, 0.1, 0.9, 0.3]), 3)
    0.1
    """
    if len(xs) != len(ys):
        raise ValueError(f"xs and ys differ in length: {len(xs)} and {len(ys)}")
    slopes = [
        (ys[j] - ys[i]) / (xs[j] - xs[i])
        for i in range(len(xs))
        for j in range(i + 1, len(xs))
        if xs[j] != xs[i]
    ]
    return median(slopes) if slopes else None
