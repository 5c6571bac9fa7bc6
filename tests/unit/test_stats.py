"""The statistics behind experiment results, against published table values."""

from __future__ import annotations

import math

import pytest

from handoff.analytics import stats


def close(value: float, expected: float, tolerance: float = 1e-6) -> bool:
    return math.isclose(value, expected, rel_tol=tolerance, abs_tol=tolerance)


# -- distributions -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("p", "df", "expected"),
    [
        (0.975, 1, 12.706205),
        (0.975, 2, 4.302653),
        (0.975, 5, 2.570582),
        (0.975, 10, 2.228139),
        (0.975, 30, 2.042272),
        (0.995, 10, 3.169273),
        (0.95, 20, 1.724718),
        (0.975, 1000, 1.962339),
        (0.975, 1e9, 1.959964),  # effectively normal
    ],
)
def test_t_quantiles_match_the_table(p: float, df: float, expected: float) -> None:
    assert close(stats.t_quantile(p, df), expected)
    assert close(stats.t_quantile(1 - p, df), -expected)


def test_t_with_one_degree_of_freedom_is_cauchy() -> None:
    for t in (-7.0, -1.0, 0.3, 2.0, 50.0):
        assert close(stats.t_cdf(t, 1), 0.5 + math.atan(t) / math.pi, 1e-10)


def test_t_distribution_function_at_known_points() -> None:
    assert close(stats.t_cdf(2.0, 5), 0.9490302605850709)
    assert close(stats.t_sf(0.0, 7), 0.5)
    assert stats.t_sf(math.inf, 3) == 0.0
    assert close(stats.t_cdf(1.5, 4.5), 1 - stats.t_sf(1.5, 4.5))  # fractional df, as Welch's test gives


def test_regularized_beta_known_values() -> None:
    assert close(stats.regularized_beta(0.5, 2, 3), 0.6875, 1e-12)  # 11/16
    assert close(stats.regularized_beta(0.3, 1, 1), 0.3, 1e-12)  # uniform
    assert stats.regularized_beta(0.0, 2, 2) == 0.0
    assert stats.regularized_beta(1.0, 2, 2) == 1.0


@pytest.mark.parametrize(
    ("x", "df", "expected"),
    [
        (3.841458820694124, 1, 0.05),
        (1.0, 1, 0.31731050786291415),
        (5.991464547107979, 2, 0.05),
        (10.0, 3, 0.01856613546304325),
        (7.814727903251178, 3, 0.05),
        (16.26623619623813, 3, 0.001),
        (0.0, 2, 1.0),
    ],
)
def test_chi_square_survival_matches_the_table(x: float, df: int, expected: float) -> None:
    assert close(stats.chi2_sf(x, df), expected)


def test_chi_square_with_two_df_is_exponential() -> None:
    for x in (0.5, 3.0, 40.0):
        assert close(stats.chi2_sf(x, 2), math.exp(-x / 2), 1e-10)


# -- proportions ---------------------------------------------------------------------------------------


def test_wilson_interval_for_8_of_10() -> None:
    low, high = stats.wilson_interval(8, 10)
    assert close(low, 0.4901625) and close(high, 0.9433178)


def test_wilson_interval_stays_inside_0_1_at_the_edges() -> None:
    low, high = stats.wilson_interval(0, 20)
    assert low == 0.0 and close(high, 0.1611252)
    low, high = stats.wilson_interval(20, 20)
    assert close(low, 0.8388748) and high == 1.0


def test_bad_counts_are_refused() -> None:
    with pytest.raises(ValueError, match="successes"):
        stats.wilson_interval(11, 10)
    with pytest.raises(ValueError, match="n > 0"):
        stats.two_proportion_test(0, 0, 1, 2)


def test_pooled_z_test_for_45_and_55_of_100() -> None:
    result = stats.two_proportion_test(45, 100, 55, 100)
    assert close(result.difference, 0.10)
    assert close(result.statistic, math.sqrt(2))  # pooled p 0.5: se = 0.5 * sqrt(2 / 100)
    assert close(result.p_value, 0.1572992070502851)


def test_z_test_is_symmetric_and_flat_when_everything_succeeded() -> None:
    ab, ba = stats.two_proportion_test(30, 200, 50, 210), stats.two_proportion_test(50, 210, 30, 200)
    assert close(ab.p_value, ba.p_value) and close(ab.difference, -ba.difference)
    same = stats.two_proportion_test(10, 10, 20, 20)
    assert same.statistic == 0.0 and same.p_value == 1.0


def test_newcombe_interval_matches_the_published_example() -> None:
    # Newcombe (1998), table II, example (a): 56/70 − 48/80, method 10: 0.0524 to 0.3339.
    low, high = stats.newcombe_interval(48, 80, 56, 70)
    assert round(low, 4) == 0.0524 and round(high, 4) == 0.3339


# -- means ---------------------------------------------------------------------------------------------


def sums(values: list[float]) -> tuple[int, float, float]:
    return len(values), sum(values), sum(v * v for v in values)


def test_mean_interval_from_sums() -> None:
    values = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]  # mean 5, sample sd sqrt(32/7)
    low, high = stats.mean_interval(*sums(values))
    half = 2.364624 * math.sqrt(32 / 7 / 8)  # t(0.975, 7)
    assert close(low, 5 - half) and close(high, 5 + half)


def test_variance_from_sums_never_goes_negative() -> None:
    n, total, squares = sums([1e6 + 0.1] * 1000)
    assert stats.mean_and_variance(n, total, squares * (1 - 1e-16))[1] >= 0.0


def test_welch_with_equal_groups_reduces_to_students_test() -> None:
    a, b = [20.1, 22.3, 19.8, 25.0, 21.7, 23.3], [24.2, 26.0, 23.9, 27.5, 25.1, 22.8]
    result = stats.welch_test(sums(a), sums(b))
    var_a, var_b = stats.mean_and_variance(*sums(a))[1], stats.mean_and_variance(*sums(b))[1]
    se = math.sqrt(var_a / 6 + var_b / 6)
    assert close(result.difference, sum(b) / 6 - sum(a) / 6)
    assert close(result.statistic, result.difference / se)
    assert close(result.p_value, 2 * stats.t_sf(abs(result.statistic), result.df or 0))
    assert result.df is not None and 5 < result.df <= 10  # Welch's df lies between n − 1 and 2n − 2
    assert close(result.high - result.difference, stats.t_quantile(0.975, result.df) * se)
    assert result.p_value < 0.05 and result.low > 0


def test_welch_df_for_equal_variances_and_sizes_is_2n_minus_2() -> None:
    a, b = [1.0, 2.0, 3.0, 4.0], [2.0, 3.0, 4.0, 5.0]
    assert close(stats.welch_test(sums(a), sums(b)).df or 0, 6.0)


def test_welch_with_constant_groups() -> None:
    assert stats.welch_test(sums([3.0, 3.0]), sums([3.0, 3.0, 3.0])).p_value == 1.0
    assert stats.welch_test(sums([3.0, 3.0]), sums([4.0, 4.0])).p_value == 0.0


# -- planning and checks -------------------------------------------------------------------------------


def test_sample_size_for_proportions() -> None:
    assert stats.sample_size_proportions(0.10, 0.05) == 686  # 10% → 15% (Fleiss, no correction)
    assert stats.sample_size_proportions(0.50, 0.10) == 388  # 50% → 60%
    # Near 1 the change goes down instead of past 1, and a smaller effect needs more.
    assert stats.sample_size_proportions(0.98, 0.05) < stats.sample_size_proportions(0.98, 0.02)
    with pytest.raises(ValueError, match="effect"):
        stats.sample_size_proportions(0.5, 0.0)


def test_sample_size_for_means() -> None:
    assert stats.sample_size_means(1.0, 0.5) == 64  # a standardised effect of 0.5: 64 per group
    assert stats.sample_size_means(1.0, 1.0) == 17
    assert stats.sample_size_means(30.0, 10.0) == 143


def test_sample_ratio_mismatch_flags_a_60_40_split_of_10k() -> None:
    result = stats.sample_ratio_mismatch([6000, 4000], [0.5, 0.5])
    assert result.mismatch and result.statistic == 400.0 and result.p_value < 1e-80


def test_sample_ratio_mismatch_accepts_5020_4980() -> None:
    result = stats.sample_ratio_mismatch([5020, 4980], [0.5, 0.5])
    assert not result.mismatch and close(result.p_value, 0.6891565)


def test_sample_ratio_uses_the_configured_shares() -> None:
    assert not stats.sample_ratio_mismatch([2000, 8000], [0.2, 0.8]).mismatch
    assert stats.sample_ratio_mismatch([2500, 7500], [0.2, 0.8]).mismatch
    assert stats.sample_ratio_mismatch([0, 0, 0], [0.2, 0.3, 0.5]).p_value == 1.0
