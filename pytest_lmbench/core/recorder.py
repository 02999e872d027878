"""Per-example records from a test-function task, turned into a :class:`TaskResult` like a JSON task's.

A task author calls ``record(...)`` once per example (or ``record_choice(choice, target)``); ``result()``
scores everything recorded with BIG-bench's metric definitions:

- records of a :class:`~pytest_lmbench.core.lm.Choice` give the multiple-choice metrics (grade, Brier score, ECE and
  the reliability diagram), exactly as for a JSON multiple-choice task;
- records with a ``target`` and a ``response`` (and no ``score``) give the generative metric(s) named by the
  task (any BIG-bench metric: exact_str_match, bleu, rouge, ...);
- records with an explicit ``score`` give their mean under the task's metric name (default ``score``);
- records with a ``confidence`` (a stated probability of being right) give the calibration of that confidence
  against the score: ``confidence_brier_score``, ``confidence_ece`` and ``confidence_mad``;
- answers graded with ``judge(answer, rubric=...)`` give the judge scores (``judge_score``,
  ``judge_score_weighted``, ``judge_unparsed``; ``scoring/judge.py``), as for a JSON task with a judge.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pytest_lmbench.core.errors import ConfigError
from pytest_lmbench.core.judging import judge_answers, panel_agreement
from pytest_lmbench.core.lm import Choice
from pytest_lmbench.core.models.base import declared
from pytest_lmbench.core.pipeline import finish_result
from pytest_lmbench.core.repeats import RIGHT_WRONG, Repeats
from pytest_lmbench.core.results import ErrorBar, ExampleResult, TaskResult, is_best
from pytest_lmbench.core.scoring import metrics as M
from pytest_lmbench.core.scoring.confidence import confidence_calibration
from pytest_lmbench.core.scoring.judge import (
    AGREEMENT,
    JUDGE_SCORES,
    JudgeSpec,
    Verdict,
    judge_scores,
    panel_scores,
    parse_judge,
    shown_verdicts,
    unread_problem,
)
from pytest_lmbench.core.seeds import BIGBENCH_SEED
from pytest_lmbench.core.tasks.data import load_examples

MC_METRICS = ("multiple_choice_grade", "calibration_multiple_choice_brier_score", "expected_calibration_error")
GENERATIVE = set(M.GENERATIVE_METRICS)


@dataclass
class Record:
    """One recorded example."""

    input: str = ""
    targets: list[str] = field(default_factory=list)
    response: str | None = None
    score: float | None = None
    choice: Choice | None = None
    target_scores: dict[str, float] | None = None
    confidence: float | None = None
    id: str | None = None
    cluster: str | None = None
    repeat: int = 0  # which repeat recorded it (``@pytest.mark.lmbench(repeats=K)`` runs the body K times)
    #: graded by a judge (``Recorder.judge``): the spec it was read by, and every judge's name and verdicts
    #: (several with ``samples``)
    judge_spec: JudgeSpec | None = None
    panel: list[tuple[str, list[Verdict]]] = field(default_factory=list)

    @property
    def verdict(self) -> Verdict | None:
        """The verdict ``judge()`` returned: the first judge's first (None: not judged)."""
        return self.panel[0][1][0] if self.panel else None


class Recorder:
    """Collects the examples of one test-function task on one model."""

    def __init__(self, task: str, model: str, *, metric: str | None = None, keywords: Sequence[str] = (),
                 path: str | None = None) -> None:
        self.task = task
        self.model = model
        self.metric = metric
        self.keywords = list(keywords)
        self.path = path
        self.records: list[Record] = []
        self.started = time.perf_counter()
        #: set by the plugin when the body runs K times: each record is of repeat ``repeat``
        self.repeats: Repeats | None = None
        self.repeat = 0
        #: the judge models for ``judge()`` (set by the plugin: --lm-judge; several: a panel), asked for on
        #: first use
        self.judge_models: Callable[[], Sequence[Any]] | None = None

    def __len__(self) -> int:
        return len(self.records)

    def record(self, score: float | bool | None = None, *, input: str = "", target: str | Sequence[str] | None = None,
               response: str | None = None, probs: Sequence[float] | None = None,
               options: Sequence[str] | None = None, confidence: float | None = None, id: str | None = None,
               cluster: str | None = None) -> None:
        """Record one example.

        ``score``: the example's score (True/False count as 1/0); omit it to have the task's generative metric
        score ``response`` against ``target``. ``probs`` with ``options`` (and ``target``) record a multiple-
        choice answer given as probabilities. ``confidence``: the model's stated probability of being right.
        ``cluster``: examples that share it are not independent (say, samples of one question); their error
        bars are clustered.
        """
        targets = [] if target is None else ([target] if isinstance(target, str) else [str(t) for t in target])
        if isinstance(score, bool):
            score = float(score)
        if score is not None:
            try:
                score = float(score)
            except (TypeError, ValueError):
                raise ConfigError(f"record(): score must be a number or a bool, not {score!r}") from None
        if confidence is not None and not 0.0 <= float(confidence) <= 1.0:
            raise ConfigError(f"record(): confidence must be a probability in [0, 1], not {confidence!r}")
        if probs is not None:
            if options is None or len(options) != len(probs) or not targets:
                raise ConfigError("record(): probs= needs options= of the same length and the target option")
            total = float(sum(probs))
            if total <= 0:
                raise ConfigError(f"record(): probs must have a positive sum, not {list(probs)!r}")
            import math

            logs = [math.log(p / total) if p > 0 else -1e9 for p in probs]
            choice = Choice(prompt=input, options=list(options), index=M.hashed_argmax(logs), log_probs=logs,
                            probs=[p / total for p in probs])
            self.record_choice(choice, targets[0], confidence=confidence, id=id, cluster=cluster)
            return
        if score is None and (response is None or not targets):
            raise ConfigError("record(): give a score, or a response and its target(s) for the task's metric")
        self.records.append(Record(input=str(input), targets=targets,
                                   response=None if response is None else str(response), score=score,
                                   confidence=None if confidence is None else float(confidence), id=id,
                                   cluster=None if cluster is None else str(cluster), repeat=self.repeat))

    def judge(self, answer: str, *, rubric: str, input: str = "", reference: str | None = None,
              scale: tuple[int, int] = (1, 5), verdict: str = "text", weighted: bool | None = None,
              pattern: str | None = None, template: str | None = None, max_tokens: int = 256,
              max_unparsed: float = 0.2, samples: int = 1, temperature: float = 1.0, id: str | None = None,
              cluster: str | None = None) -> Verdict:
        """Have the judge model (``--lm-judge``) grade ``answer`` to ``input`` by ``rubric`` on ``scale``, and
        record it; ``reference`` is shown to the judge when given. Returns the verdict (``grade`` None: it could
        not be read; it is then left out of judge_score and counted in judge_unparsed); with a panel of judges,
        the first judge's (all are recorded and scored). ``samples``: verdicts per judge (a task file's
        ``judge_samples``), averaged for this example. The settings mean what the keys of a task file's judge
        block mean (docs/judges.md)."""
        try:
            spec = parse_judge({"rubric": rubric, "scale": list(scale), "reference": reference is not None,
                                "verdict": verdict, "weighted": weighted, "pattern": pattern, "template": template,
                                "max_tokens": max_tokens, "max_unparsed": max_unparsed, "judge_samples": samples,
                                "temperature": temperature}, "judge()")
        except ValueError as exc:
            raise ConfigError(f"lmbench.{exc}") from None
        models = self.judge_models() if self.judge_models is not None else ()
        if not models:
            raise ConfigError("lmbench.judge(): no judge model: name one with --lm-judge SPEC (e.g. --lm-judge "
                              "'smollm2?chat=1'), the ini option lm_judge, or @pytest.mark.lmbench(judge=SPEC)")
        panel = []
        drawn: list[int | None] = list(range(spec.samples)) if spec.samples > 1 else [None]
        for model in models:
            judge = declared(model)
            found = judge_answers(judge, spec, [(str(input), str(answer), reference)], samples=drawn,
                                  seed=BIGBENCH_SEED)
            panel.append((judge.name, [one[0] for one in found]))
        self.records.append(Record(input=str(input), targets=[] if reference is None else [str(reference)],
                                   response=str(answer), id=id, cluster=None if cluster is None else str(cluster),
                                   repeat=self.repeat, judge_spec=spec, panel=panel))
        return panel[0][1][0]

    def record_choice(self, choice: Choice, target: str | int | dict[str, float], *,
                      confidence: float | None = None, id: str | None = None, cluster: str | None = None) -> None:
        """Record a multiple-choice answer; ``target`` is the right option, its index, or BIG-bench-style
        ``target_scores`` ({option: score})."""
        if isinstance(target, dict):
            scores = {str(k): float(v) for k, v in target.items()}
        elif isinstance(target, int) and not isinstance(target, bool):
            if not 0 <= target < len(choice.options):
                raise ConfigError(f"record_choice(): target index {target} is out of range for "
                                  f"{len(choice.options)} options")
            scores = {o: float(i == target) for i, o in enumerate(choice.options)}
        else:
            if target not in choice.options:
                raise ConfigError(f"record_choice(): target {target!r} is not one of the options {choice.options!r}")
            scores = {o: float(o == target) for o in choice.options}
        missing = [o for o in choice.options if o not in scores]
        if missing:
            raise ConfigError(f"record_choice(): target_scores has no score for option(s) {missing!r}")
        best = max(scores, key=lambda o: scores[o])
        self.records.append(Record(input=choice.prompt, targets=[best], response=choice.option, choice=choice,
                                   target_scores=scores, confidence=confidence, id=id,
                                   cluster=None if cluster is None else str(cluster), repeat=self.repeat))

    # -- scoring --------------------------------------------------------------------------------
    def preferred_metric(self) -> str:
        if self.metric:
            return self.metric
        if any(r.choice is not None for r in self.records):
            return "multiple_choice_grade"
        if any(r.verdict is not None for r in self.records):
            return "judge_score"
        if any(r.score is not None for r in self.records):
            return "score"
        return "exact_str_match"

    def result(self, *, scorers: Mapping[str, M.Scorer] | None = None) -> TaskResult:
        """Score everything recorded. ``scorers``: extra generative scorers by metric name (bleurt), e.g. the
        plugin's from the ``pytest_lmbench_metrics`` hook."""
        if self.repeats is not None and self.repeats.on:
            return self._repeated(scorers)
        preferred = self.preferred_metric()
        scores: dict[str, float] = {}
        reliability: list[dict[str, Any]] = []
        examples = [self._example(i, r) for i, r in enumerate(self.records)]
        per_example: dict[str, dict[int, float]] = {}

        mc = [i for i, r in enumerate(self.records) if r.choice is not None]
        if mc:
            choices = [c for i in mc if (c := self.records[i].choice) is not None]  # all of them: mc's filter
            normalized = M.normalize_log_probs([c.log_probs for c in choices])  # the one normaliser
            values = M.multiple_choice([c.options for c in choices],
                                       [self.records[i].target_scores or {} for i in mc],  # set with every choice
                                       normalized, [c.log_probs for c in choices], MC_METRICS)
            scores.update(values.scores)
            reliability = list(values.extra.get("reliability", []))
            for metric, vals in values.per_example.items():
                per_example.setdefault(metric, {}).update(dict(zip(mc, vals)))
        errors = self._judged(examples, scores, per_example)
        explicit = [i for i, r in enumerate(self.records) if r.score is not None and r.choice is None]
        if explicit:
            name = preferred if preferred not in MC_METRICS else "score"
            vals = [float(s) for i in explicit if (s := self.records[i].score) is not None]  # all: the filter
            scores[name] = sum(vals) / len(vals)
            per_example.setdefault(name, {}).update(dict(zip(explicit, vals)))
        generated = [i for i, r in enumerate(self.records) if r.score is None and r.choice is None
                     and r.verdict is None]
        if generated:
            metrics = [preferred] if preferred in GENERATIVE else ["exact_str_match"]
            values = M.generative([self.records[i].targets for i in generated],
                                  [str(self.records[i].response) for i in generated], metrics, scorers)
            scores.update(values.scores)
            for metric, vals in values.per_example.items():
                per_example.setdefault(metric, {}).update(dict(zip(generated, vals)))
        stated = [i for i, r in enumerate(self.records) if r.confidence is not None]
        calib: dict[str, Any] | None = None
        if stated:
            correct = [self._correctness(i, per_example, preferred) for i in stated]
            stated_values = [float(v) for i in stated if (v := self.records[i].confidence) is not None]  # all
            calib = confidence_calibration(stated_values, correct)
            for i, value in zip(stated, correct):
                examples[i].scores["correct"] = value
        if preferred not in scores:
            raise ConfigError(f"task {self.task!r}: its metric {preferred!r} was not computed from the records; "
                              "record a score, choices, or responses with targets")
        low, high = self._score_range(preferred)
        return finish_result(task=self.task, model=self.model, shots=0, examples=examples, scores=scores,
                             per_example=per_example, preferred=preferred, low=low, high=high, path=self.path,
                             keywords=self.keywords, reliability=reliability, confidence=calib,
                             started=self.started, errors=errors)

    def _judged(self, examples: list[ExampleResult], scores: dict[str, float],
                per_example: dict[str, dict[int, float]]) -> dict[str, ErrorBar]:
        """The judge scores of the judged records (each read by its own spec), onto ``scores`` and
        ``per_example`` (a panel's: each judge's as METRIC@J, their mean per example, and their agreement, whose
        interval it returns); too many unreadable verdicts are an error that names the judge."""
        judged = [i for i, r in enumerate(self.records) if r.verdict is not None]
        if not judged:
            return {}
        judges = max(len(self.records[i].panel) for i in judged)
        strictest = min((r.judge_spec for r in self.records if r.judge_spec is not None),
                        key=lambda spec: spec.max_unparsed)
        per_judge = []
        for j in range(judges):
            per: dict[str, dict[int, float]] = {}
            unread = []
            total = 0
            for i in judged:
                record = self.records[i]
                assert record.judge_spec is not None  # judged: set with the verdict
                name, verdicts = record.panel[j]
                _, one = judge_scores([verdicts], record.judge_spec)
                for metric, values in one.items():
                    if 0 in values:  # one example: its value is at index 0 (none where no verdict was read)
                        per.setdefault(metric, {})[i] = values[0]
                unread += [(name, v) for v in verdicts if v.grade is None]
                total += len(verdicts)
            problem = unread_problem(record.panel[j][0], len(unread), total, strictest)
            if problem is not None:
                said = str(unread[0][1].text or "")[:80]
                raise ConfigError(f"task {self.task!r}: {problem}, e.g. {said!r}; use a judge that follows the "
                                  "format, verdict='prefill', or a pattern")
            per_judge.append(({m: sum(v.values()) / len(v) for m, v in per.items()}, per))
        for i in judged:
            record = self.records[i]
            examples[i].judge = shown_verdicts(record.panel)
        panel, panel_per = panel_scores(per_judge, len(self.records))
        scores.update(panel)
        for metric, values in panel_per.items():
            per_example.setdefault(metric, {}).update(values)
        if judges < 2:
            return {}
        return self._agreement([(i, self.records[i]) for i in judged], judges, scores)

    @staticmethod
    def _agreement(judged: list[tuple[int, Record]], judges: int, scores: dict[str, float]) -> dict[str, ErrorBar]:
        """A panel's ``judge_alpha`` over the verdicts of ``judged`` ((example, record): each verdict sample of
        each answer a unit, an example's units resampled together) into ``scores``; its interval."""
        spec = next((r.judge_spec for _, r in judged if r.judge_spec is not None), None)
        if judges < 2 or spec is None:
            return {}
        ratings = [[v.grade for _, r in judged for v in r.panel[j][1]] for j in range(judges)]
        clusters = [i for i, r in judged for _ in r.panel[0][1]]
        alpha, error = panel_agreement(ratings, spec.grades(), clusters)
        if math.isnan(alpha):
            return {}
        scores[AGREEMENT] = alpha
        return {AGREEMENT: error} if error is not None else {}

    def _repeated(self, scorers: Mapping[str, M.Scorer] | None) -> TaskResult:
        """K runs of the body: each repeat's records scored as a task of their own, matched to repeat 0's by
        ``id`` (else by order), each metric the mean over the repeats, and the reducers of the preferred score."""
        from pytest_lmbench.core.repeats import judged_repeats, mean_of_repeats, reduce_repeats

        repeats = self.repeats
        assert repeats is not None
        runs = [[r for r in self.records if r.repeat == i] for i in range(repeats.k)]
        first = runs[0]
        if any(r.confidence is not None for r in self.records):
            raise ConfigError(f"task {self.task!r}: repeats={repeats.k} with a recorded confidence: stated "
                              "confidence is about one answer; record it without repeats")
        keys = [r.id if r.id is not None else j for j, r in enumerate(first)]
        if len(set(keys)) != len(keys):
            raise ConfigError(f"task {self.task!r}: two records of one repeat share an id; with repeats each "
                              "example's id matches it across the repeats")
        ordered = []
        for i, run in enumerate(runs):
            by_key = {r.id if r.id is not None else j: r for j, r in enumerate(run)}
            if len(run) != len(first) or set(by_key) != set(keys):
                raise ConfigError(f"task {self.task!r}: repeat {i} recorded {len(run)} example(s), repeat 0 "
                                  f"{len(first)}; with repeats every run of the body must record the same "
                                  "examples (the same ids, or the same number in the same order)")
            ordered.append([by_key[k] for k in keys])
        results = []
        for run in ordered:
            single = Recorder(self.task, self.model, metric=self.metric, keywords=self.keywords, path=self.path)
            single.records = run
            results.append(single.result(scorers=scorers))
        base = results[0]
        preferred = base.preferred_score
        per_repeat = [M.MetricValues(scores={m: v for m, v in r.scores.items() if m != "normalized_aggregate_score"},
                                     per_example={m: [ex.scores.get(m) for ex in r.examples]  # type: ignore[misc]
                                                  for m in r.scores if m != "normalized_aggregate_score"})
                      for r in results]
        examples = base.examples
        for j, ex in enumerate(examples):
            ex.samples = [self._sample(run[j], res.examples[j], preferred) for run, res in zip(ordered, results)]
            ex.scores = {}
        values = mean_of_repeats(per_repeat, examples)
        notes: list[str] = []
        errors: dict[str, ErrorBar] = {}
        if any(r.verdict is not None for r in self.records):
            errors = self._panel_over_repeats(ordered, values.scores)
        if preferred in JUDGE_SCORES:
            info = judged_repeats(preferred, repeats, notes)
        else:
            binary = all("correct" in sample for ex in examples for sample in ex.samples or [])
            info = reduce_repeats(preferred, repeats, examples, values, notes, binary=binary)
        per_example = {m: {j: v for j, v in enumerate(vals) if v is not None} for m, vals in values.per_example.items()}
        return finish_result(task=self.task, model=self.model, shots=0, examples=examples, scores=values.scores,
                             per_example=per_example, preferred=base.preferred_score, low=base.low_score,
                             high=base.high_score, path=self.path, keywords=self.keywords,
                             reliability=base.reliability, notes=notes, started=self.started, repeats=info,
                             errors=errors)

    def _panel_over_repeats(self, ordered: list[list[Record]], scores: dict[str, float]) -> dict[str, ErrorBar]:
        """A panel's agreement over every repeat's verdicts (each answer a unit, an example's answers resampled
        together), in place of the mean of the repeats' own; its interval."""
        scores.pop(AGREEMENT, None)
        judged = [(j, r) for run in ordered for j, r in enumerate(run) if r.verdict is not None]
        return self._agreement(judged, max((len(r.panel) for _, r in judged), default=0), scores)

    @staticmethod
    def _sample(record: Record, scored: ExampleResult, preferred: str) -> dict[str, Any]:
        """One repeat's sample of an example: a choice's sampled pick and its grade (the metrics themselves stay
        BIG-bench's, of the most likely option), else the record's response and its preferred score; right or
        wrong where the score says (a pick, a 0/1 metric, an author's 0 or 1)."""
        if record.choice is not None:
            pick = record.choice.option
            return {"picked": pick, "score": float((record.target_scores or {}).get(pick, 0.0)),
                    "correct": is_best(record.target_scores, pick)}
        value = scored.scores.get(preferred)
        if record.verdict is not None:  # judged: the verdict(s), and the grade where it was read
            return {"response": record.response, "score": value, "judge": scored.judge}
        if value is None:
            raise ConfigError(f"a record has no {preferred!r}: with repeats every record is scored by the task's "
                              "preferred metric")
        sample: dict[str, Any] = {"response": record.response, "score": float(value)}
        if preferred in RIGHT_WRONG or (preferred not in M.SCORE_RANGES and value in (0.0, 1.0)):
            sample["correct"] = value == 1.0
        return sample

    def _correctness(self, i: int, per_example: dict[str, dict[int, float]], preferred: str) -> float:
        r = self.records[i]
        if r.choice is not None:
            return float(is_best(r.target_scores, r.choice.option))  # target scores: recorded with every choice
        value = r.score if r.score is not None else per_example.get(preferred, {}).get(i, 0.0)
        if not 0.0 <= float(value) <= 1.0:
            raise ConfigError(f"task {self.task!r}: a confidence was recorded with score {value}, but calibration "
                              "needs scores in [0, 1] (right = 1, wrong = 0)")
        return float(value)

    def _score_range(self, preferred: str) -> tuple[float, float]:
        if preferred == "multiple_choice_grade":
            mc = [r for r in self.records if r.choice is not None]
            low = sum(sum((r.target_scores or {}).values()) / len(r.target_scores or {0: 0}) for r in mc) / len(mc)
            return float(low), 1.0
        low, high = M.SCORE_RANGES.get(preferred, (0.0, 1.0))
        return float(low), float(high)

    def _example(self, i: int, r: Record) -> ExampleResult:
        uid = r.id or hashlib.sha256(json.dumps([self.task, r.input, r.targets, r.choice.options if r.choice else None],
                                                sort_keys=True).encode()).hexdigest()[:16]
        ex = ExampleResult(id=uid, index=i, prompt=r.input, targets=list(r.targets), response=r.response,
                           target_scores=r.target_scores, cluster=r.cluster)
        if r.choice is not None:
            ex.choices = list(r.choice.options)
            ex.log_probs = [float(x) for x in M.normalize_log_probs([r.choice.log_probs])[0]]
        if r.confidence is not None:
            ex.scores["confidence"] = r.confidence
        return ex


class TaskRecorder(Recorder):
    """The ``lmbench`` fixture of test-function tasks: a :class:`Recorder` that also loads data files next to
    the test file."""

    def __init__(self, *args: Any, base_dir: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.base_dir = base_dir

    def data(self, path: str, *, required: tuple[str, ...] = ()) -> list[dict[str, Any]]:
        """Examples from a JSON/JSONL/CSV file (relative paths start at the test file's directory)."""
        return load_examples(os.path.join(self.base_dir, path), required=required)
