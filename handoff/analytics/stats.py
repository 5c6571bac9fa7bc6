"""Statistics for experiment results, in the standard library only.

Proportions (automation, first-contact resolution, service level) get Wilson score intervals, a pooled
two-proportion z test and Newcombe's hybrid score interval for a difference; means (wait, CSAT) come as
(n, sum, sum of squares) and get Student t intervals and Welch's test. The t and chi-square distributions
are computed here from the regularized incomplete beta and gamma functions (continued fractions, as in
Numerical Recipes), accurate to about 1e-10, which is far below anything a verdict turns on.

Differences are always "b − a": in an experiment, a is the control and b the variant.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist
from typing import NamedTuple

_NORMAL = NormalDist()
_EPS = 1e-15
_TINY = 1e-300
_MAX_ITERATIONS = 500
_NORMAL_DF = 1e7  # beyond this t is the normal to 1e-7, and the beta fraction loses more than that
SRM_THRESHOLD = 0.001  # a split this unlikely under the configured shares is a bug, not chance


class Interval(NamedTuple):
    low: float
    high: float


class Comparison(NamedTuple):
    """b − a with its interval, the test statistic (z or t), the two-sided p-value and, for t, the df."""

    difference: float
    low: float
    high: float
    statistic: float
    p_value: float
    df: float | None = None


class SampleRatio(NamedTuple):
    statistic: float
    df: int
    p_value: float
    mismatch: bool


# -- distributions ---------------------------------------------------------------------------------


def normal_quantile(p: float) -> float:
    return _NORMAL.inv_cdf(p)


def regularized_beta(x: float, a: float, b: float) -> float:
    """I_x(a, b), the regularized incomplete beta function."""
    if a <= 0 or b <= 0:
        raise ValueError("regularized_beta needs a > 0 and b > 0")
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    front = math.exp(
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    # The continued fraction converges fast only on this side of the mean; use the symmetry otherwise.
    if x < (a + 1) / (a + b + 2):
        return front * _beta_fraction(x, a, b) / a
    return 1.0 - front * _beta_fraction(1.0 - x, b, a) / b


def _beta_fraction(x: float, a: float, b: float) -> float:
    """Lentz's evaluation of the continued fraction of I_x(a, b)."""
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1.0 / (d if abs(d) > _TINY else _TINY)
    h = d
    for m in range(1, _MAX_ITERATIONS + 1):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > _TINY else _TINY)
            c = 1.0 + numerator / c
            c = c if abs(c) > _TINY else _TINY
            h *= d * c
        if abs(d * c - 1.0) < _EPS:
            break
    return h


def regularized_gamma_upper(a: float, x: float) -> float:
    """Q(a, x) = Γ(a, x) / Γ(a), the regularized upper incomplete gamma function."""
    if a <= 0:
        raise ValueError("regularized_gamma_upper needs a > 0")
    if x <= 0:
        return 1.0
    log_front = -x + a * math.log(x) - math.lgamma(a)
    if x < a + 1:  # the series for P converges here
        term = total = 1.0 / a
        n = a
        for _ in range(_MAX_ITERATIONS):
            n += 1
            term *= x / n
            total += term
            if abs(term) < abs(total) * _EPS:
                break
        return max(0.0, 1.0 - total * math.exp(log_front))
    b = x + 1 - a  # the continued fraction for Q converges here
    c, d = 1.0 / _TINY, 1.0 / b
    h = d
    for i in range(1, _MAX_ITERATIONS + 1):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = 1.0 / (d if abs(d) > _TINY else _TINY)
        c = b + an / c
        c = c if abs(c) > _TINY else _TINY
        h *= d * c
        if abs(d * c - 1.0) < _EPS:
            break
    return min(1.0, math.exp(log_front) * h)


def chi2_sf(x: float, df: float) -> float:
    """P(X > x) for a chi-square variable with df degrees of freedom."""
    if df <= 0:
        raise ValueError("chi-square needs df > 0")
    return regularized_gamma_upper(df / 2, x / 2) if x > 0 else 1.0


def t_sf(t: float, df: float) -> float:
    """P(T > t) for Student's t with df (not necessarily whole) degrees of freedom."""
    if df <= 0:
        raise ValueError("Student's t needs df > 0")
    if math.isinf(t):
        return 0.0 if t > 0 else 1.0
    if df > _NORMAL_DF:
        return 1.0 - _NORMAL.cdf(t)
    tail = 0.5 * regularized_beta(df / (df + t * t), df / 2, 0.5)  # P(T > |t|)
    return tail if t >= 0 else 1.0 - tail


def t_cdf(t: float, df: float) -> float:
    return 1.0 - t_sf(t, df)


def t_quantile(p: float, df: float) -> float:
    """The t with P(T ≤ t) = p, by bisection on the distribution function (monotone, so it cannot miss)."""
    if not 0 < p < 1:
        raise ValueError("a quantile needs 0 < p < 1")
    if df <= 0:
        raise ValueError("Student's t needs df > 0")
    if p == 0.5:
        return 0.0
    if df > _NORMAL_DF:
        return normal_quantile(p)
    if p < 0.5:
        return -t_quantile(1 - p, df)
    tail = 1 - p
    low, high = 0.0, max(1.0, normal_quantile(p))
    while t_sf(high, df) > tail:
        low, high = high, high * 2
    for _ in range(200):
        middle = (low + high) / 2
        if t_sf(middle, df) > tail:
            low = middle
        else:
            high = middle
        if high - low <= 1e-12 * max(1.0, high):
            break
    return (low + high) / 2


# -- proportions -------------------------------------------------------------------------------------


def _check_counts(successes: int, n: int) -> None:
    if n <= 0 or not 0 <= successes <= n:
        raise ValueError(f"counts need 0 <= successes <= n and n > 0, got {successes}/{n}")


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> Interval:
    """Wilson's score interval: sensible near 0 and 1 and for small n, unlike the normal (Wald) one."""
    _check_counts(successes, n)
    z = normal_quantile(1 - (1 - confidence) / 2)
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    low = 0.0 if successes == 0 else max(0.0, centre - half)  # exact ends, not rounding residue
    high = 1.0 if successes == n else min(1.0, centre + half)
    return Interval(low, high)


def two_proportion_test(x_a: int, n_a: int, x_b: int, n_b: int, confidence: float = 0.95) -> Comparison:
    """p_b − p_a with Newcombe's hybrid score interval and the pooled two-proportion z test."""
    _check_counts(x_a, n_a)
    _check_counts(x_b, n_b)
    p_a, p_b = x_a / n_a, x_b / n_b
    pooled = (x_a + x_b) / (n_a + n_b)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    z = (p_b - p_a) / se if se > 0 else 0.0  # all successes or all failures: no evidence of a difference
    interval = newcombe_interval(x_a, n_a, x_b, n_b, confidence)
    return Comparison(p_b - p_a, interval.low, interval.high, z, math.erfc(abs(z) / math.sqrt(2)))


def newcombe_interval(x_a: int, n_a: int, x_b: int, n_b: int, confidence: float = 0.95) -> Interval:
    """Newcombe (1998), method 10: the difference p_b − p_a from the two Wilson intervals."""
    low_a, high_a = wilson_interval(x_a, n_a, confidence)
    low_b, high_b = wilson_interval(x_b, n_b, confidence)
    p_a, p_b = x_a / n_a, x_b / n_b
    difference = p_b - p_a
    return Interval(
        difference - math.sqrt((p_b - low_b) ** 2 + (high_a - p_a) ** 2),
        difference + math.sqrt((high_b - p_b) ** 2 + (p_a - low_a) ** 2),
    )


# -- means -------------------------------------------------------------------------------------------


def mean_and_variance(n: int, total: float, sum_of_squares: float) -> tuple[float, float]:
    """Mean and sample variance (n − 1) from running sums; rounding cannot make the variance negative."""
    if n < 2:
        raise ValueError("a variance needs at least two values")
    mean = total / n
    return mean, max(0.0, (sum_of_squares - total * mean) / (n - 1))


def mean_interval(n: int, total: float, sum_of_squares: float, confidence: float = 0.95) -> Interval:
    """Student t interval of a mean."""
    mean, variance = mean_and_variance(n, total, sum_of_squares)
    half = t_quantile(1 - (1 - confidence) / 2, n - 1) * math.sqrt(variance / n)
    return Interval(mean - half, mean + half)


def welch_test(
    a: tuple[int, float, float], b: tuple[int, float, float], confidence: float = 0.95
) -> Comparison:
    """mean_b − mean_a with Welch's t interval and two-sided test; a and b are (n, sum, sum of squares)."""
    n_a, n_b = a[0], b[0]
    mean_a, var_a = mean_and_variance(*a)
    mean_b, var_b = mean_and_variance(*b)
    difference = mean_b - mean_a
    share_a, share_b = var_a / n_a, var_b / n_b
    se = math.sqrt(share_a + share_b)
    if se == 0:  # both groups constant: the difference is exact
        return Comparison(
            difference, difference, difference, 0.0, 1.0 if difference == 0 else 0.0, n_a + n_b - 2
        )
    df = (share_a + share_b) ** 2 / (share_a**2 / (n_a - 1) + share_b**2 / (n_b - 1))
    t = difference / se
    half = t_quantile(1 - (1 - confidence) / 2, df) * se
    return Comparison(difference, difference - half, difference + half, t, min(1.0, 2 * t_sf(abs(t), df)), df)


# -- planning and checks -----------------------------------------------------------------------------


def sample_size_proportions(baseline: float, effect: float, alpha: float = 0.05, power: float = 0.8) -> int:
    """Per-group n for a two-sided two-proportion z test to detect an absolute change `effect` from
    `baseline` (Fleiss, without continuity correction). The change goes up unless that leaves [0, 1]."""
    if not 0 <= baseline <= 1:
        raise ValueError("baseline must be a proportion in 0..1")
    if not 0 < effect < 1:
        raise ValueError("effect must be in (0, 1)")
    p_a = baseline
    p_b = baseline + effect if baseline + effect <= 1 else max(0.0, baseline - effect)
    delta = abs(p_b - p_a)
    z_alpha, z_beta = normal_quantile(1 - alpha / 2), normal_quantile(power)
    pooled = (p_a + p_b) / 2
    root = z_alpha * math.sqrt(2 * pooled * (1 - pooled)) + z_beta * math.sqrt(
        p_a * (1 - p_a) + p_b * (1 - p_b)
    )
    return max(2, math.ceil(root * root / (delta * delta) - 1e-9))


def sample_size_means(sd: float, effect: float, alpha: float = 0.05, power: float = 0.8) -> int:
    """Per-group n for a two-sided two-sample t test to detect a difference `effect` with standard
    deviation `sd`: the normal formula plus Guenther's z²/4 for estimating the variance."""
    if sd < 0 or not math.isfinite(sd):
        raise ValueError("sd must be a finite number >= 0")
    if effect <= 0:
        raise ValueError("effect must be > 0")
    z_alpha, z_beta = normal_quantile(1 - alpha / 2), normal_quantile(power)
    n = 2 * ((z_alpha + z_beta) * sd / effect) ** 2 + z_alpha * z_alpha / 4
    return max(2, math.ceil(n - 1e-9))


def sample_ratio_mismatch(
    observed: Sequence[int], shares: Sequence[float], threshold: float = SRM_THRESHOLD
) -> SampleRatio:
    """Chi-square goodness of fit of the observed counts per variant to the configured shares. A p-value
    below `threshold` means the split itself is broken (assignment, exposure or logging), so the
    comparison is not to be trusted whatever it says."""
    if len(observed) != len(shares) or len(observed) < 2:
        raise ValueError("observed and shares need the same length, at least 2")
    if any(share <= 0 for share in shares) or any(count < 0 for count in observed):
        raise ValueError("shares must be > 0 and counts >= 0")
    total, share_total = sum(observed), sum(shares)
    df = len(observed) - 1
    if total == 0:
        return SampleRatio(0.0, df, 1.0, False)
    statistic = 0.0
    for count, share in zip(observed, shares, strict=True):
        expected = total * share / share_total
        statistic += (count - expected) ** 2 / expected
    p_value = chi2_sf(statistic, df)
    return SampleRatio(statistic, df, p_value, p_value < threshold)
