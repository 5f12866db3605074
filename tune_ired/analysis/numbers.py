"""How the report writes numbers: a value's digits follow its uncertainty, 'n/a' for what is undefined.

A mean is written with its standard deviation to two significant digits and the mean
rounded to the same decimal place (`0.0359 ± 0.0020`); an interval of that arm uses the
same places. Values without an uncertainty get four significant digits, percentages one
decimal, p-values three significant digits.

    from tune_ired.analysis.numbers import mean_pm
    mean_pm(0.035912, 0.0020345)   # '0.0359 ± 0.0020'
"""

from __future__ import annotations

import math

NA = "n/a"
STD_DIGITS = (
    2  # significant digits of a standard deviation (the uncertainty of its mean's last digit)
)
PLAIN_DIGITS = 4  # significant digits of a value with no uncertainty attached
P_DIGITS = 3  # significant digits of a p-value


def missing(value) -> bool:
    """True for None and NaN (what the tables hold where a statistic is undefined)."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def sig(value: float, digits: int = PLAIN_DIGITS) -> str:
    """`value` to `digits` significant digits, or 'n/a'."""
    return NA if missing(value) else f"{value:.{digits}g}"


def decimals_for(std: float) -> int | None:
    """Decimal places that keep STD_DIGITS significant digits of `std` (None when std is 0 or undefined)."""
    if missing(std) or std <= 0 or not math.isfinite(std):
        return None
    return STD_DIGITS - 1 - math.floor(math.log10(std))


def fixed(value: float, decimals: int | None) -> str:
    """`value` rounded to `decimals` places (negative: tens, hundreds...); 4 significant digits when None."""
    if missing(value):
        return NA
    if decimals is None:
        return sig(value)
    return f"{round(value, decimals):.{max(decimals, 0)}f}"


def mean_pm(mean: float, std: float) -> str:
    """'mean ± std': std to 2 significant digits, the mean rounded to the same decimal place."""
    if missing(mean):
        return NA
    places = decimals_for(std)
    if places is None:
        return f"{sig(mean)} ± {'0' if std == 0 else NA}"
    return f"{fixed(mean, places)} ± {fixed(std, places)}"


def pvalue(p: float) -> str:
    return sig(p, P_DIGITS)


def percent(value: float) -> str:
    """A signed percentage to one decimal ('+12.3'), or 'n/a'."""
    if missing(value):
        return NA
    return f"{value:+.1f}" if math.isfinite(value) else ("+inf" if value > 0 else "-inf")


def count(n: int, noun: str) -> str:
    """'1 seed', '3 seeds'."""
    return f"{n} {noun}{'' if n == 1 else 's'}"
