"""Verdicts: each arm against the research's success criteria, stated with its uncertainty and its failures.

The research asks for at least 20% lower val/mse than the baseline (mining strategies) and
expects 1-5% from the corrected DCD variant (docs/method.md §9 names it). The estimand is the ratio of
the arm's and the baseline's arithmetic mean final metric, paired by seed, as a percent
improvement. A study's m comparisons against its baseline decide at confidence 1 - 0.05/m
each (Bonferroni: all its verdicts hold together with probability >= 95%, so a false MEETS
anywhere in the study has probability <= 2.5%). An arm *meets* a criterion when both deciding
intervals (Fieller's and the log-scale one, `tune_ired.analysis.intervals`) lie at or above
the threshold, *misses* it when either lies wholly below, and is *inconclusive* otherwise
(VERDICT_RULE). Each view of the comparison is judged so (diverged seeds scored by the
divergence rule, and the seeds both arms finished; `tune_ired.analysis.divergence`) and the
verdict is the worse. Degenerate data never MEET: fewer than MIN_SEEDS paired seeds, seeds
without spread, an exact linear relation, a log-scale check that cannot be made, values
outside the metric's range, or seeds the arm ran that have no paired outcome.

    from tune_ired.analysis.verdict import verdicts
    for verdict in verdicts(compare_counting_divergence(finals, metric="val/mse", baseline="none", mode="min"),
                            baseline="none"):
        print(verdict)            # 'MEETS: adversarial vs none: ...'
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tune_ired.analysis.divergence import FINISHED_VIEW
from tune_ired.analysis.intervals import CONFIDENCE, MIN_SEEDS, VIEW_KEYS, decide_confidence
from tune_ired.analysis.numbers import NA, percent, pvalue
from tune_ired.record.catalogue import VAL_MSE, Mode, as_mode

LEVEL = round(CONFIDENCE * 100)
VERDICT_RULE = (
    "the improvement is the ratio of the arm's and the baseline's mean final value, paired by seed; "
    f"the m comparisons of a study decide at confidence 1 - {1 - CONFIDENCE:.2g}/m each "
    "(Bonferroni), so every verdict of the study holds together with probability at least "
    f"{LEVEL}% (a false MEETS at most {(1 - CONFIDENCE) / 2:.1%}); MEETS when both deciding "
    "intervals (Fieller's, and a log-scale one for skewed seeds) lie at or above the criterion in "
    "every view (diverged seeds scored by the rule, and the seeds both finished), MISSES when one "
    f"lies wholly below, INCONCLUSIVE otherwise, and always with fewer than {MIN_SEEDS} paired "
    "seeds, seeds without spread, values outside the metric's range, or seeds the arm ran without "
    "a paired result"
)
OUTCOMES = ("meets", "misses", "inconclusive")
BADGES = {"meets": "MEETS", "misses": "MISSES", "inconclusive": "INCONCLUSIVE"}
# of two verdicts the one earlier here is the worse
WORSE_FIRST = ("misses", "inconclusive", "meets")
# arm labels naming the DCD variant or its ablations
DCD_PATTERN = re.compile(r"dcd|Q-20[2-4]", re.IGNORECASE)
# below this many seeds the exact two-sided Wilcoxon p cannot reach 0.05 (2 / 2**5)
WILCOXON_FEW_SEEDS = 6
BLOCKERS = {  # why a view cannot decide, in the order they are checked
    "too_few": f"too few seeds for a verdict ({MIN_SEEDS} paired seeds needed)",
    "no_spread": "the seeds show no spread: an interval of zero width is no evidence",
    "singular": "the arm's values are an exact linear function of the baseline's (a singular "
    "covariance): no independent spread to judge by",
    "no_log": "the log-scale check needs positive values, and a value <= 0 could flatter the arm",
}


@dataclass(frozen=True)
class Criterion:
    """A success criterion: an improvement over the baseline of at least `low` percent (expected up to `high`)."""

    name: str
    low: float
    high: float | None = None

    def describe(self) -> str:
        expected = f", {self.low:g}-{self.high:g}% expected" if self.high is not None else ""
        return f"{self.name} criterion (>= {self.low:g}% better than the baseline{expected})"


# the research plan's bar for a better mining strategy
MINING_CRITERION = Criterion("mining", low=20.0)
# the corrected variant's expected gain, as the research plan states it (docs/method.md §9)
DCD_CRITERION = Criterion("DCD", low=1.0, high=5.0)


@dataclass(frozen=True)
class Verdict:
    """One arm's verdict: its outcome ('meets', 'misses', 'inconclusive') and the sentence that states it."""

    arm: str
    outcome: str
    text: str

    @property
    def badge(self) -> str:
        return BADGES[self.outcome]

    def __str__(self) -> str:
        return f"{self.badge}: {self.text}"


def criterion_for(arm: str) -> Criterion:
    """The criterion an arm is judged by: the DCD one when its label names the DCD variant."""
    return DCD_CRITERION if DCD_PATTERN.search(str(arm)) else MINING_CRITERION


def judge_intervals(low, high, threshold: float) -> np.ndarray:
    """'meets', 'misses' or 'inconclusive' per interval (arrays or scalars; NaN bounds: inconclusive)."""
    low, high = np.asarray(low, dtype=float), np.asarray(high, dtype=float)
    with np.errstate(invalid="ignore"):
        return np.where(
            low >= threshold, "meets", np.where(high < threshold, "misses", "inconclusive")
        )


def worse(*outcomes):
    """The worse outcome (elementwise for arrays): misses, then inconclusive, then meets."""
    ranks = np.min([np.vectorize(WORSE_FIRST.index)(o) for o in outcomes], axis=0)
    picked = np.asarray(WORSE_FIRST)[ranks]
    return str(picked) if np.ndim(picked) == 0 else picked


def judge_view(view: Mapping[str, np.ndarray], threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """(outcome, blocker) per study of one view (`intervals.view_columns`'s arrays, or a row's scalars).

    The worse of Fieller's and the log-scale deciding interval (Fieller's alone where the
    log-scale one is skipped); 'inconclusive' with a BLOCKERS key where the view cannot
    decide, else blocker ''.
    """
    get = {key: np.asarray(view[key]) for key in VIEW_KEYS}
    fieller = judge_intervals(get["fieller_low"], get["fieller_high"], threshold)
    log = judge_intervals(get["log_low"], get["log_high"], threshold)
    skipped = get["log_skipped"].astype(bool)
    outcome = worse(fieller, np.where(skipped, fieller, log))
    no_log = np.isnan(get["log_low"].astype(float)) & ~skipped
    blocker = np.select(
        [
            get["seeds"] < MIN_SEEDS,
            get["no_spread"].astype(bool),
            get["singular"].astype(bool),
            no_log,
        ],
        list(BLOCKERS),
        default="",
    )
    return np.where(blocker != "", "inconclusive", outcome), blocker


def views_of(row: pd.Series) -> list[tuple[str, dict]]:
    """(name, columns) of each view the row is judged on: the scored one, and the finished-seeds one when a
    seed of the pair diverged (otherwise it is the same)."""
    views = [("", {key: row[key] for key in VIEW_KEYS})]
    if diverged_any(row):
        finished = {key: row[FINISHED_VIEW + key] for key in VIEW_KEYS}
        views.append((f"over the {int(finished['seeds'])} seeds both finished", finished))
    return views


def diverged_any(row: pd.Series) -> bool:
    return bool(row.get("arm_diverged", 0) or row.get("baseline_diverged", 0))


def judge(row: pd.Series, criterion: Criterion) -> tuple[str, str]:
    """(outcome, why) of one comparison row; `why` says what kept it INCONCLUSIVE ('' otherwise)."""
    if row.get("invalid"):
        return "inconclusive", f"not judged: {row['invalid']}"
    if row.get("baseline_finished", 1) == 0:
        return "inconclusive", "the baseline has no finished seed to compare with"
    outcomes, reasons = [], []
    for name, view in views_of(row):
        outcome, blocker = (str(x) for x in judge_view(view, criterion.low))
        outcomes.append(outcome)
        if blocker:
            reasons.append(f"{name}: {BLOCKERS[blocker]}" if name else BLOCKERS[blocker])
    outcome = worse(*outcomes)
    if outcome == "meets" and row.get("meets_block"):
        return "inconclusive", f"{row['meets_block']}: MEETS needs every seed the arm ran"
    return outcome, "; ".join(reasons) if outcome == "inconclusive" else ""


def estimate_text(
    estimate: float, low: float, high: float, *, mode: Mode | str, more: str = ""
) -> str:
    """'30.2% lower (per-comparison 95% CI +24.1% to +35.8%[; more])'; 'no CI' where it is undefined."""
    better, worse_word = ("lower", "higher") if as_mode(mode) is Mode.MIN else ("higher", "lower")
    if math.isnan(estimate):
        return NA
    direction = better if estimate >= 0 else worse_word
    ci = "no CI" if math.isnan(low) else f"per-comparison {LEVEL}% CI {span(low, high)}"
    return f"{abs(estimate):.1f}% {direction} ({ci}{f'; {more}' if more else ''})"


def span(low: float, high: float) -> str:
    return NA if math.isnan(low) else f"{percent(low)}% to {percent(high)}%"


def deciding_text(view: Mapping, family: int) -> str:
    """'simultaneous 98.3% CI (Bonferroni, m = 3): Fieller +20.1% to +41.0%, log-scale +19.5% to +40.2%'."""
    if view["log_skipped"]:
        log = "log-scale skipped (its values <= 0 count against the arm)"
    elif math.isnan(view["log_low"]):
        log = "log-scale undefined"
    else:
        log = f"log-scale {span(view['log_low'], view['log_high'])}"
    level = f"{decide_confidence(family) * 100:.4g}%"
    fieller = span(view["fieller_low"], view["fieller_high"])
    return f"simultaneous {level} CI (Bonferroni, m = {family}): Fieller {fieller}, {log}"


def view_text(view: Mapping, *, family: int, mode: Mode | str) -> str:
    """A view's estimate with its per-comparison and deciding intervals."""
    return estimate_text(
        view["improvement_pct"],
        view["improvement_low"],
        view["improvement_high"],
        mode=mode,
        more=deciding_text(view, family),
    )


def divergence_text(row: pd.Series, arm: str, baseline: str) -> str:
    arm_part = f"{arm} {int(row.get('arm_diverged', 0))}/{int(row.get('arm_seeds', row['seeds']))}"
    base_seeds = int(row.get("baseline_seeds", row["seeds"]))
    base_part = f"{baseline} {int(row.get('baseline_diverged', 0))}/{base_seeds}"
    return f"diverged: {arm_part}, {base_part}"


def tests_text(row: pd.Series) -> str:
    d = NA if math.isnan(row["cohen_d"]) else f"{row['cohen_d']:.2f}"
    return (
        f"paired t p={pvalue(row['t_p'])} (Holm {pvalue(row['t_p_holm'])}), "
        f"Wilcoxon p={pvalue(row['wilcoxon_p'])} (Holm {pvalue(row['wilcoxon_p_holm'])}), Cohen's d={d}"
    )


def caveats(row: pd.Series, criterion: Criterion, outcome: str) -> list[str]:
    """What a reader must know next to this verdict."""
    notes = []
    if row.get("constant", False):
        notes.append("the paired differences are constant: t-test and d undefined")
    if 0 < row["seeds"] < WILCOXON_FEW_SEEDS:
        notes.append(
            f"with {int(row['seeds'])} seeds the exact Wilcoxon p is at least {2 / 2 ** row['seeds']:.3g}"
        )
    if (
        criterion.high is not None
        and outcome == "meets"
        and row["improvement_pct"] > criterion.high
    ):
        notes.append(f"above the expected {criterion.low:g}-{criterion.high:g}%")
    return notes


def penalty_text(row: pd.Series) -> str:
    """', each diverged seed of the arm scored 0.162 (...)': what the divergence rule gave the arm's."""
    penalty = row.get("penalty", math.nan)
    if math.isnan(penalty):
        return ""
    trivial, worst = row.get("trivial", math.nan), row.get("pair_worst", math.nan)
    if math.isnan(trivial):
        basis = "the pair's worst finished value; the trivial predictor's score is unknown here"
    elif penalty == trivial:
        basis = f"the trivial predictor's score; the pair's worst finished value is {worst:.4g}"
    else:
        basis = f"the pair's worst finished value, worse than the trivial predictor's {trivial:.4g}"
    return f", each diverged seed of the arm scored {penalty:.4g} ({basis})"


def measured_text(row: pd.Series, *, metric: str, mode: Mode | str) -> str:
    """The views' estimates and intervals, the seeds they used and the penalty of a diverged seed."""
    family = int(row.get("family", 1))
    [(_, scored), *finished] = views_of(row)
    text = f"{metric} {view_text(scored, family=family, mode=mode)} over {int(row['seeds'])} paired seeds"
    if diverged_any(row):
        text += penalty_text(row)
        for name, view in finished:
            text += f"; {name}: {view_text(view, family=family, mode=mode)}"
    if row.get("left_out"):
        text += f"; left out: {row['left_out']}"
    return text


def verdict(
    arm: str,
    row: pd.Series,
    *,
    baseline: str,
    metric: str = VAL_MSE,
    mode: Mode | str = Mode.MIN,
) -> Verdict:
    """The verdict of one comparison row (a row of `compare_counting_divergence` or `compare_to_baseline`)."""
    criterion = criterion_for(arm)
    outcome, why = judge(row, criterion)
    head = f"{arm} vs {baseline}"
    counts = divergence_text(row, arm, baseline)
    if row.get("invalid") or row.get("baseline_finished", 1) == 0:
        return Verdict(
            arm, outcome, f"{head}: no verdict, {why.removeprefix('not judged: ')} ({counts})."
        )
    if row["seeds"] < MIN_SEEDS or math.isnan(row["improvement_pct"]):
        left = f"; left out: {row['left_out']}" if row.get("left_out") else ""
        text = f"{head}: {BLOCKERS['too_few']}, {int(row['seeds'])} paired ({counts}{left})."
        return Verdict(arm, "inconclusive", text)
    parts = [measured_text(row, metric=metric, mode=mode), counts, tests_text(row)]
    parts += [f"no verdict: {why}"] if why else []
    parts += caveats(row, criterion, outcome)
    return Verdict(arm, outcome, f"{head}: {'; '.join(parts)}; {criterion.describe()}.")


def verdicts(
    comparison: pd.DataFrame,
    *,
    baseline: str,
    metric: str = VAL_MSE,
    mode: Mode | str = Mode.MIN,
) -> list[Verdict]:
    """A verdict per compared arm (rows of `compare_counting_divergence`)."""
    return [
        verdict(str(arm), row, baseline=baseline, metric=metric, mode=mode)
        for arm, row in comparison.iterrows()
    ]


def family_rule(comparison: pd.DataFrame | None, baseline: str | None) -> str:
    """The family-wise statement of a study's verdicts ('' without comparisons)."""
    if comparison is None or not len(comparison):
        return ""
    family = int(comparison["family"].iloc[0])
    return (
        f"Family-wise: the {family} comparison(s) against '{baseline}' each decide at "
        f"{decide_confidence(family) * 100:.4g}% (Bonferroni, m = {family}), so all of this study's "
        f"verdicts hold together with probability at least {LEVEL}% and a false MEETS among them has "
        f"probability at most {(1 - CONFIDENCE) / 2:.1%}; the per-comparison {LEVEL}% CI is shown beside "
        "the simultaneous one."
    )
