"""Paired comparisons of two results on the same examples, and the regression gate built on them.

A candidate result is compared with a baseline result of the same task and shot count: from an earlier
report (``--lm-baseline``) or from another model of the same run (``--lm-compare``). Examples are matched
by their stable id (a hash of the task name and the example's content), never by position, and examples
present on one side only are counted and reported rather than silently dropped or compared.

The preferred score's difference (candidate - baseline) gets a paired test that fits the score: exact
McNemar for 0/1 scores, paired t for continuous per-example scores (cluster-robust with clusters), and the
paired bootstrap for corpus metrics (bleu, ECE, ...). The gate asks one-sided "is the candidate worse by more
than the allowed regression?", with Holm's correction across every compared item of the run.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, cast

from pytest_lmbench.core import stats as S
from pytest_lmbench.core.gates import describe_example, example_failed
from pytest_lmbench.core.results import ComparisonDict, ExampleResult, TaskResult, Verdict
from pytest_lmbench.core.scoring import metrics as M
from pytest_lmbench.core.tasks.model import LOWER_IS_BETTER
from pytest_lmbench.core.uncertainty import corpus_statistic

MAX_LISTED_EXAMPLES = 20  # newly failing examples kept per comparison in the report


@dataclass
class Comparison:
    """Candidate vs baseline on one task, model and shot count (builtin types only: it travels in reports)."""

    task: str
    model: str
    shots: int
    against: str  # what the baseline is: "prod.json (model prod)" or "model smollm2"
    metric: str
    candidate: float | None = None
    baseline: float | None = None
    delta: float | None = None  # candidate - baseline, on the matched examples
    stderr: float | None = None
    ci95: list[float] | None = None
    p_two_sided: float | None = None
    p_worse: float | None = None  # one-sided: candidate worse by more than the margin
    p_adjusted: float | None = None  # Holm over every compared item (of p_worse for a gate, else p_two_sided)
    method: str | None = None
    margin: float = 0.0  # allowed regression, in the metric's units
    n_matched: int = 0
    only_candidate: int = 0
    only_baseline: int = 0
    newly_failing: list[dict[str, Any]] = field(default_factory=list)
    n_newly_failing: int = 0
    n_newly_passing: int = 0
    verdict: Verdict = "not compared"  # gate: "regressed" | "no regression"; else "worse" | "better" | "no difference"
    message: str | None = None
    gating: bool = True  # a --lm-baseline comparison (can fail the run), not an informative --lm-compare one

    def to_dict(self) -> ComparisonDict:
        return cast(ComparisonDict, dataclasses.asdict(self))

    @property
    def mismatched(self) -> bool:
        return bool(self.only_candidate or self.only_baseline)


def keyed(examples: Iterable[ExampleResult]) -> dict[tuple[str, int], ExampleResult]:
    """Examples by (id, occurrence): a task may hold the same example twice."""
    seen: Counter[str] = Counter()
    out = {}
    for ex in examples:
        out[(ex.id, seen[ex.id])] = ex
        seen[ex.id] += 1
    return out


def _subset(result: TaskResult, examples: list[ExampleResult]) -> TaskResult:
    return dataclasses.replace(result, examples=examples, n_examples=len(examples))


def margin_for(metric: str, max_regression: float) -> float:
    """``--lm-max-regression`` is a fraction of the metric's full range: 0.02 is 2 points of a 0-1 grade and
    2 BLEU points of bleu's 0-100."""
    low, high = M.SCORE_RANGES.get(metric, (0.0, 1.0))
    return max_regression * (high - low)


def compare(candidate: TaskResult, baseline: TaskResult, *, against: str, max_regression: float = 0.0,
            seed: int = 0, gating: bool = True, metric: str | None = None) -> Comparison:
    """The paired comparison of ``candidate`` with ``baseline`` on their shared examples (p-values unadjusted),
    on ``metric`` where the candidate has it (``--lm-baseline-metric``: maj@8, pass@1, ...), else on the
    preferred score."""
    asked = metric
    chosen = metric is not None and metric in candidate.scores
    metric = metric if chosen and metric is not None else candidate.preferred_score
    out = Comparison(task=candidate.task, model=candidate.model, shots=candidate.shots, against=against,
                     gating=gating, metric=metric, candidate=candidate.scores.get(metric),
                     baseline=baseline.scores.get(metric),
                     margin=margin_for(metric, max_regression))
    if chosen and metric not in baseline.scores:
        out.message = f"not compared: the baseline has no {metric} (was it run with the same repeats?)"
        return out
    if asked is not None and not chosen:
        out.message = f"--lm-baseline-metric {asked}: this result has no such score; compared on {metric}"
    if not chosen and baseline.preferred_score != metric:
        out.message = f"the baseline's preferred score is {baseline.preferred_score}, not {metric}"
        return out
    if candidate.score_data is not None:  # its examples are the model's requests, not scored examples
        out.message = ("not compared: a BIG-bench programmatic task computes its score itself, with no "
                       "per-example values to pair; gate it with --lm-threshold")
        return out
    cand, base = keyed(candidate.examples), keyed(baseline.examples)
    shared = [k for k in cand if k in base]
    out.n_matched = len(shared)
    out.only_candidate = len(cand) - len(shared)
    out.only_baseline = len(base) - len(shared)
    if out.mismatched:
        out.message = (f"example sets differ: {len(shared)} shared, {out.only_candidate} only in this run, "
                       f"{out.only_baseline} only in the baseline; compared on the shared ones")
    if M.is_sparse(metric):  # a judge's score: paired on the examples whose verdicts were read in both runs
        read = [k for k in shared if cand[k].scores.get(metric) is not None and base[k].scores.get(metric) is not None]
        if len(read) < len(shared):
            out.message = f"compared on the {len(read)} of {len(shared)} shared examples with {metric} in both runs"
        shared = read
    if len(shared) < 2:
        out.message = (f"not compared: {len(shared)} shared example(s) "
                       f"({out.only_candidate} only in this run, {out.only_baseline} only in the baseline)")
        return out
    c_ex, b_ex = [cand[k] for k in shared], [base[k] for k in shared]
    c_res, b_res = _subset(candidate, c_ex), _subset(baseline, b_ex)
    test = _paired_test(metric, c_res, b_res, out.margin, seed)
    if test is None:
        out.message = f"not compared: {metric} has no per-example values to pair"
        return out
    out.delta, out.stderr = test.delta, test.stderr
    out.ci95 = None if test.ci95 is None else [float(test.ci95[0]), float(test.ci95[1])]
    out.p_two_sided, out.p_worse, out.method = test.p_two_sided, test.p_worse, test.method
    changed = flips(c_res, b_res)
    newly = [f for f in changed if f.direction == "newly failing"]
    out.n_newly_failing = len(newly)
    out.n_newly_passing = len(changed) - len(newly)
    out.newly_failing = [{"id": f.id, "index": f.index, "detail": describe_example(f.candidate),
                          "baseline_got": f.baseline.answer} for f in newly[:MAX_LISTED_EXAMPLES]]
    out.verdict = "no regression"
    return out


def _paired_test(metric: str, cand: TaskResult, base: TaskResult, margin: float, seed: int
                 ) -> S.PairedTest | None:
    sign = -1.0 if metric in LOWER_IS_BETTER else 1.0  # test "worse" on a higher-is-better scale
    c_vals = [e.scores.get(metric) for e in cand.examples]
    b_vals = [e.scores.get(metric) for e in base.examples]
    if all(v is not None for v in c_vals + b_vals):
        c = [sign * float(v) for v in c_vals]  # type: ignore[arg-type]
        b = [sign * float(v) for v in b_vals]  # type: ignore[arg-type]
        clusters = [e.cluster if e.cluster is not None else f"#{i}" for i, e in enumerate(cand.examples)]
        clustered = len(set(clusters)) < len(clusters)
        low, high = M.SCORE_RANGES.get(metric, (0.0, 1.0))
        if not clustered and high == 1.0 and S.is_binary([abs(v) for v in c + b]) and sign > 0:
            test = S.paired_binary(b, c, margin)
        else:
            test = S.paired_continuous(b, c, margin, clusters if clustered else None)
    else:
        c_stat, b_stat = corpus_statistic(cand, metric), corpus_statistic(base, metric)
        if c_stat is None or b_stat is None:
            return None
        test = S.paired_bootstrap(lambda idx: (sign * c_stat(idx), sign * b_stat(idx)), len(cand.examples),
                                  margin=margin, seed=seed)
    if test is None or sign > 0:
        return test
    ci = None if test.ci95 is None else (-test.ci95[1], -test.ci95[0])
    return dataclasses.replace(test, delta=-test.delta, ci95=ci)


def apply_holm(comparisons: list[Comparison], alpha: float, *, gate: bool = True) -> list[Comparison]:
    """Holm-adjust the p-values of every compared item together and give each its verdict: for a gate the
    one-sided "worse" p-values ("regressed" | "no regression"), otherwise the two-sided ones ("worse" |
    "better" | "no difference")."""
    tested = [c for c in comparisons if c.p_worse is not None and c.p_two_sided is not None]
    raw = [c.p_worse if gate else c.p_two_sided for c in tested]
    for comp, adjusted in zip(tested, S.holm(raw)):  # type: ignore[arg-type]
        comp.p_adjusted = float(adjusted)
        if gate:
            comp.verdict = "regressed" if adjusted <= alpha else "no regression"
        else:
            comp.verdict = ("no difference" if adjusted > alpha
                            else "better" if (comp.delta or 0.0) > 0 else "worse")
    return comparisons


def regression_message(comp: Comparison, alpha: float) -> str:
    """Why an item regressed, with the examples it newly gets wrong."""
    allowed = f" by more than {comp.margin:g}" if comp.margin else ""
    lo, hi = comp.ci95 or (float("nan"), float("nan"))
    lines = [f"{comp.task} [{comp.model}, {comp.shots}-shot]: {comp.metric} is significantly worse than "
             f"{comp.against}{allowed}: {comp.baseline:.4g} -> {comp.candidate:.4g}, delta {comp.delta:+.4g} "
             f"(95% CI {lo:+.4g} to {hi:+.4g}) on {comp.n_matched} matched examples; {comp.method} "
             f"p = {comp.p_worse:.3g}, Holm-adjusted {comp.p_adjusted:.3g} <= alpha {alpha:g}"]
    if comp.n_newly_failing:
        lines.append(f"{comp.n_newly_failing} example(s) newly wrong ({comp.n_newly_passing} newly right); "
                     f"the first {min(3, len(comp.newly_failing))}:")
        lines += [e["detail"] + f"\n      baseline: {e['baseline_got']!r}" for e in comp.newly_failing[:3]]
    return "\n".join(lines)


def _attach(results: list[TaskResult], comparisons: list[Comparison]) -> None:
    """Each comparison into its result's ``comparisons`` (as builtin types)."""
    by_key = {(r.task, r.model, r.shots): r for r in results if not r.aggregate}
    for comp in comparisons:
        by_key[(comp.task, comp.model, comp.shots)].comparisons.append(comp.to_dict())


# --------------------------------------------------------------------------------- choosing the baseline

class BaselineIndex:
    """The results of a baseline report, found by task and shot count (and model when it has several)."""

    def __init__(self, results: list[TaskResult], path: str, model: str | None = None) -> None:
        self.path = path
        leaf = [r for r in results if not r.aggregate]
        self.models = sorted({r.model for r in leaf})
        if model is not None and model not in self.models:
            raise ValueError(f"{path}: no results for model {model!r} (it has: {', '.join(self.models) or 'none'})")
        self.model = model
        self.by_key: dict[tuple[str, int], dict[str, TaskResult]] = {}
        for r in leaf:
            self.by_key.setdefault((r.task, r.shots), {})[r.model] = r

    def find(self, candidate: TaskResult) -> tuple[TaskResult | None, str]:
        """(baseline result, why not) for a candidate result; a baseline item that was an error is none."""
        base, why = self._find(candidate)
        if base is not None and base.outcome == "error":
            return None, "the baseline item was an error"
        return base, why

    def _find(self, candidate: TaskResult) -> tuple[TaskResult | None, str]:
        options = self.by_key.get((candidate.task, candidate.shots), {})
        if not options:
            return None, f"not in the baseline {self.path} ({candidate.shots}-shot)"
        if self.model is not None:
            found = options.get(self.model)
            return found, "" if found else f"the baseline has no {self.model!r} result for it"
        if len(self.models) == 1:
            return next(iter(options.values())), ""
        if candidate.model in options:
            return options[candidate.model], ""
        return None, (f"the baseline has several models ({', '.join(self.models)}): choose one with "
                      "--lm-baseline-model")

    def label(self, result: TaskResult) -> str:
        return f"{self.path} ({result.model})"

    def flipped(self, candidate: TaskResult) -> tuple[TaskResult | None, list[Flip], str]:
        """(baseline result, the candidate's flipped examples against it, why not compared) of ``find``."""
        base, why = self.find(candidate)
        return base, ([] if base is None else flips(candidate, base)), why


def compare_with_baseline(results: list[TaskResult], index: BaselineIndex, *, max_regression: float,
                          alpha: float, metric: str | None = None) -> list[Comparison]:
    """Compare every leaf result with its baseline, Holm-correct, and mark regressed results as such."""
    comparisons = []
    for r in results:
        if r.aggregate or r.outcome in ("error", "skipped"):
            continue
        base, why = index.find(r)
        if base is None:
            comparisons.append(Comparison(task=r.task, model=r.model, shots=r.shots, against=index.path,
                                          metric=r.preferred_score, candidate=r.scores.get(r.preferred_score),
                                          message=f"not compared: {why}"))
        else:
            comparisons.append(compare(r, base, against=index.label(base), max_regression=max_regression,
                                       metric=metric))
    apply_holm(comparisons, alpha)
    _attach(results, comparisons)
    leaves = {(r.task, r.model, r.shots): r for r in results if not r.aggregate}
    for comp in comparisons:
        if comp.verdict == "regressed":
            r = leaves[(comp.task, comp.model, comp.shots)]
            r.before_gate = r.before_gate or {"outcome": r.outcome, "message": r.message}
            r.outcome = r.outcome if r.outcome == "failed" else "regressed"
            r.message = regression_message(comp, alpha) + (f"\n{r.message}" if r.message else "")
    return comparisons


def compare_models(results: list[TaskResult], reference: str, *, alpha: float) -> list[Comparison]:
    """Every other model's paired difference against ``reference`` on each task of this run (informative:
    Holm-adjusted, but outcomes are left alone)."""
    ref = {(r.task, r.shots): r for r in results if r.model == reference and not r.aggregate and r.scores}
    comparisons = []
    for r in results:
        if r.model == reference or r.aggregate or not r.scores:
            continue
        base = ref.get((r.task, r.shots))
        if base is None:
            continue
        comparisons.append(compare(r, base, against=f"model {reference}", gating=False))
    apply_holm(comparisons, alpha, gate=False)
    _attach(results, comparisons)
    return comparisons


def ungated(result: TaskResult) -> TaskResult:
    """``result`` as it was before any comparison (a copy): its own outcome and message back, no comparisons. What
    a gate is decided on again, on stored reports (``diff``, ``merge``)."""
    out = dataclasses.replace(result, comparisons=[], before_gate=None)
    if result.before_gate is not None:
        out.outcome, out.message = result.before_gate["outcome"], result.before_gate["message"]
    elif result.outcome == "regressed":  # a report written before before_gate: its thresholds judged again
        from pytest_lmbench.core.gates import judge

        out.outcome, out.message = judge(out, out.threshold, gate="lower")  # the default --lm-gate
        out.notes = [*out.notes, "outcome before the baseline gate judged again from the thresholds with "
                     "--lm-gate=lower (the report predates before_gate)"]
    return out


# --------------------------------------------------------------------------------- flipped examples

@dataclass
class Flip:
    """One example whose correctness changed between a baseline result and a candidate result (matched by id):
    what a person reads to decide whether a regression is real."""

    id: str
    index: int
    direction: str  # "newly failing" or "newly passing"
    candidate: ExampleResult
    baseline: ExampleResult


def flips(candidate: TaskResult, baseline: TaskResult) -> list[Flip]:
    """The examples of ``candidate`` that are wrong where ``baseline`` had them right, then those right where it
    had them wrong (``gates.example_failed`` on each side), in the candidate's order. Programmatic BIG-bench
    tasks have no scored examples: none."""
    if candidate.score_data is not None or baseline.score_data is not None:
        return []
    base = keyed(baseline.examples)
    out: dict[str, list[Flip]] = {"newly failing": [], "newly passing": []}
    for key, ex in keyed(candidate.examples).items():
        old = base.get(key)
        if old is None:
            continue
        now_failed, was_failed = example_failed(ex, candidate), example_failed(old, baseline)
        if now_failed != was_failed:
            direction = "newly failing" if now_failed else "newly passing"
            out[direction].append(Flip(id=ex.id, index=ex.index, direction=direction, candidate=ex, baseline=old))
    return out["newly failing"] + out["newly passing"]
