"""JUnit XML: each item's scores, interval and outcome as ``<property>`` elements of its test case.

pytest's junitxml writes the ``user_properties`` of an item's teardown report; the properties are added to
the item once its result exists (end of call), so they travel from xdist workers like any user property.
The ``regressed`` outcome of ``--lm-baseline`` is decided after every item has run, so it is in the JSON
report and the summary, not here.
"""

from __future__ import annotations

from pytest_lmbench.core.repeats import is_reducer
from pytest_lmbench.core.results import TaskResult


def junit_properties(result: TaskResult) -> list[tuple[str, str]]:
    """``lmbench.*`` name/value pairs (strings) for one result."""
    props = [("lmbench.task", result.task), ("lmbench.model", result.model), ("lmbench.shots", str(result.shots)),
             ("lmbench.n_examples", str(result.n_examples)), ("lmbench.outcome", result.outcome)]
    metric = result.preferred_score
    value = result.scores.get(metric) if metric else None
    if value is not None:
        props += [("lmbench.metric", metric), ("lmbench.score", repr(float(value)))]
        entry = result.errors.get(metric) or {}
        stderr = entry.get("stderr")
        if stderr is not None:
            props.append(("lmbench.stderr", repr(float(stderr))))
        ci = entry.get("ci95")
        if ci:
            props.append(("lmbench.ci95", f"{float(ci[0])!r} {float(ci[1])!r}"))
        if result.normalized_preferred_score is not None:
            props.append(("lmbench.normalized_score", repr(float(result.normalized_preferred_score))))
    # the scores that qualify the preferred one: calibration, and how far a judge's verdicts can be trusted
    for name in ("expected_calibration_error", "confidence_ece", "judge_unparsed", "judge_swap_inconsistency",
                 "judge_alpha"):
        if name in result.scores:
            props.append((f"lmbench.{name}", repr(float(result.scores[name]))))
    if result.repeats:
        props.append(("lmbench.repeats", str(result.repeats.get("k"))))
        props.append(("lmbench.temperature", repr(float(result.repeats.get("temperature", 0.0)))))
        props += [(f"lmbench.{name}", repr(float(value))) for name, value in result.scores.items() if is_reducer(name)]
    for key, value in (result.usage or {}).items():  # what the item cost
        if value is not None and key != "tokens_counted" and (key not in ("prompt_tokens", "generated_tokens")
                                                              or (result.usage or {}).get("tokens_counted", True)):
            props.append((f"lmbench.usage.{key}", repr(value) if isinstance(value, float) else str(value)))
    for name, threshold in sorted(result.threshold.items()):
        props.append((f"lmbench.threshold.{name}", repr(float(threshold))))
    return props
