"""One task x one model x one shot count -> TaskResult. The pure core: no pytest here.

Follows BIG-bench's ``evaluate_fixed_shot``: multiple-choice options are scored with the model's
log-likelihoods (normalised across options), generative metrics see the post-processed generation,
and ``log_likelihood`` sees log P(target | prompt).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

from pytest_lmbench.core import gcpause
from pytest_lmbench.core.judging import compare_answers, judge_answers, panel_agreement
from pytest_lmbench.core.models.base import (
    DEFAULT_MAX_TOKENS,
    BaseModel,
    Model,
    Progress,
    declared,
    progress_kwargs,
)
from pytest_lmbench.core.models.chat import (
    Message,
    PromptFormat,
    after_thinking,
    conversation,
    parse_letter,
)
from pytest_lmbench.core.options import EvalOptions
from pytest_lmbench.core.pipeline import LiveProgress, call_backend, finish_result
from pytest_lmbench.core.repeats import (
    RIGHT_WRONG,
    Repeats,
    judged_repeats,
    mean_of_repeats,
    option_sample,
    reduce_repeats,
)
from pytest_lmbench.core.results import ErrorBar, ExampleResult, TaskResult, is_best
from pytest_lmbench.core.scoring import metrics as M
from pytest_lmbench.core.scoring.confidence import confidence_calibration, parse_confidence
from pytest_lmbench.core.scoring.judge import (
    AGREEMENT,
    Comparison,
    JudgeSpec,
    Verdict,
    judge_scores,
    mode_scores,
    pairwise_scores,
    panel_scores,
    shown_verdicts,
    unread_problem,
)
from pytest_lmbench.core.scoring.postprocess import postprocess
from pytest_lmbench.core.tasks.model import Task, VerbalizedConfidence
from pytest_lmbench.core.tasks.prompts import Query, build_queries
from pytest_lmbench.core.uncertainty import aggregate_errors
from pytest_lmbench.core.usage import Usage, acting_as, metering


def evaluate(task: Task, model: Model, options: EvalOptions | None = None, *, progress: LiveProgress | None = None,
             meter: Usage | None = None, **option_values: Any) -> TaskResult:
    """Score a leaf task on a model, as BIG-bench does for ``options.shots`` shots. ``options``: how (shots,
    examples, token budget, seed, label, extra scorers, repeats; ``EvalOptions``), its fields also accepted as
    keywords (``evaluate(task, model, shots=1)``). ``progress`` hears of every finished request (backends with
    the ``reports_progress`` capability are told it as a parameter; the answer cache counts the others a call at
    a time). ``meter``: what the model's work cost is added to it (a new one if None); the result carries it as
    ``usage``."""
    opts = EvalOptions.of(options, option_values)
    if task.is_parent:
        raise ValueError(f"{task.name} is a parent task: evaluate its subtasks and aggregate them")
    lm = declared(model)
    repeats = opts.repeats or task.repeats or Repeats()
    meter = Usage() if meter is None else meter
    with gcpause.paused(), metering(meter):  # model calls run with the collector as usual (_call)
        fmt = lm.prompt_format
        queries = build_queries(task, opts.shots or 0, opts.max_examples, opts.seed,
                                letters=fmt.mc == "letters" and bool(task.multiple_choice_metrics))
        kind = _check_repeats(task, lm, fmt, repeats)  # which answers the repeats sample (None: no repeats)
        if progress is None:
            result = _Evaluation(task, lm, queries, opts, None, repeats, kind).run()
        else:
            progress.start(_request_count(task, queries, fmt, repeats.k if kind in ("letters", "generated") else 1,
                                          kind))
            try:
                result = _Evaluation(task, lm, queries, opts, progress.advance, repeats, kind).run()
            finally:
                progress.finish()
    result.usage = dict(meter.to_dict())
    return result


def _request_count(task: Task, queries: list[Query], fmt: PromptFormat, k: int = 1, kind: str | None = None) -> int:
    """The model requests an evaluation makes (``k`` times those of the ``kind`` its repeats sample)."""
    count = 0
    if task.multiple_choice_metrics:
        count = len(queries) * (k if kind == "letters" else 1) if fmt.mc == "letters" \
            else sum(len(q.choices or ()) for q in queries)
    count += len(queries) * (k if kind == "generated" else 1) if task.generative_metrics or task.judge else 0
    count += sum(len(q.targets) for q in queries) if task.scoring_metrics else 0
    return count + (len(queries) if task.verbalized_confidence is not None else 0)


class _Asker:
    """One task's requests in the model's prompt format: BIG-bench's text prompts for raw models, the
    conversations of ``core/models/chat.py`` for chat models (rendered by the model's template, or sent to a server's
    chat API)."""

    def __init__(self, model: BaseModel, fmt: PromptFormat, task: Task, queries: list[Query],
                 reporting: dict[str, Any]) -> None:
        self.model, self.fmt, self.queries, self.reporting = model, fmt, queries, reporting
        self.convs: list[list[Message]] | None = None
        if fmt.chat:
            self.convs = [conversation(fmt, task_prefix=task.task_prefix, shots=q.shots, query=q.input,
                                       prompt=q.prompt, output_prefix=task.example_output_prefix) for q in queries]

    def shown(self, i: int) -> str:
        """What the model was shown for query ``i`` (a chat model's rendered conversation)."""
        if self.convs is None:
            return self.queries[i].prompt
        return self.model.render(self.convs[i])

    def turns(self, i: int) -> list[dict[str, str]] | None:
        """Query ``i``'s conversation as plain dicts for the report (None for raw prompts)."""
        return None if self.convs is None else [{"role": m["role"], "content": m["content"]} for m in self.convs[i]]

    def loglikelihood(self, pairs: list[tuple[int, str]]) -> list[float]:
        if self.convs is not None:
            convs = self.convs
            return call_backend(lambda r: self.model.chat_loglikelihood(r, **self.reporting),
                                [(convs[i], c) for i, c in pairs], "loglikelihood", len(pairs), self.model)
        return call_backend(lambda r: self.model.loglikelihood(r, **self.reporting),
                            [(self.queries[i].prompt, c) for i, c in pairs], "loglikelihood", len(pairs), self.model)

    def generate(self, follow_ups: list[tuple[int, list[Message], str]] | None = None, *, max_tokens: int,
                 stop: list[str] | None = None, **sampling: Any) -> list[str]:
        """Each query's answer; or, with ``follow_ups`` (query, the turns after it, their raw text), each
        follow-up's. ``sampling``: temperature and seed of one repeat (none: greedy)."""
        if self.convs is not None:
            convs = self.convs
            asked = [convs[i] + turns for i, turns, _ in follow_ups] if follow_ups is not None else convs
            return call_backend(lambda c: self.model.chat(c, max_tokens=max_tokens, stop=stop,
                                                          **sampling, **self.reporting),
                                asked, "generate", len(asked), self.model)
        texts = [self.queries[i].prompt + text for i, _, text in follow_ups] if follow_ups is not None \
            else [q.prompt for q in self.queries]
        return call_backend(lambda p: self.model.generate(p, max_tokens=max_tokens, stop=stop, **sampling,
                                                          **self.reporting), texts, "generate", len(texts), self.model)


class _Evaluation:
    """One evaluation's phases, in BIG-bench's order, sharing the examples, the metric values and the notes:
    multiple choice (by log-probs, or by letter), generation, log-likelihood of the targets, then repeats,
    stated confidence and the result."""

    def __init__(self, task: Task, model: BaseModel, queries: list[Query], options: EvalOptions,
                 advance: Progress | None, repeats: Repeats, kind: str | None) -> None:
        self.task, self.model, self.queries, self.options = task, model, queries, options
        self.repeats, self.kind = repeats, kind
        self.fmt = model.prompt_format
        self.max_tokens = DEFAULT_MAX_TOKENS if options.max_tokens is None else options.max_tokens
        self.ask = _Asker(model, self.fmt, task, queries, progress_kwargs(model, advance))
        self.values = M.MetricValues()
        self.notes: list[str] = list(task.notes)
        self.unfinished = 0  # think_end: responses with no end marker
        self.examples: list[ExampleResult] = []
        self.sparse: dict[str, dict[int, float]] = {}  # per-example values some examples lack (unread verdicts)
        self.errors: dict[str, ErrorBar] = {}  # intervals of whole-set statistics (a judge panel's alpha)

    def run(self) -> TaskResult:
        start = time.perf_counter()
        task, queries, ask = self.task, self.queries, self.ask
        if self.model.sees_answers:
            _show_answers(self.model, queries)
        self.examples = [ExampleResult(id=q.example.uid, index=q.example.index, prompt=ask.shown(i),
                                       targets=q.targets, target_scores=q.example.target_scores, choices=q.choices,
                                       messages=ask.turns(i)) for i, q in enumerate(queries)]
        if task.multiple_choice_metrics:
            if self.fmt.mc == "letters":
                self.letters()
            else:
                self.choices()
        if task.generative_metrics or task.judge is not None:
            self.generated()
        if task.judge is not None:
            self.judged(task.judge)
        if task.scoring_metrics:
            self.log_likelihoods()
        return self.result(start)

    def answers(self, raw: list[str]) -> list[str]:
        """The answers in ``raw`` after a reasoning model's thinking (``think_end``); unfinished ones counted."""
        out = []
        for text in raw:
            answer, found = after_thinking(str(text), self.fmt.think_end)
            self.unfinished += not found
            out.append(answer)
        return out

    def letters(self) -> None:
        """mc=letters: the options lettered, the answer's letter graded (K sampled answers with repeats)."""
        task, queries, examples, repeats = self.task, self.queries, self.examples, self.repeats
        stop = None if self.fmt.chat or self.fmt.think_end else ["\n"]
        max_tokens = self.max_tokens
        if self.kind != "letters":
            raw = self.ask.generate(max_tokens=max_tokens, stop=stop)
            _merge(self.values, _letter_grades(task, queries, examples, raw, self.answers(raw), self.notes))
            return
        per_repeat: list[M.MetricValues] = []
        first_notes: list[str] = []
        for i, repeat_seed in enumerate(repeats.seeds()):
            raw = self.ask.generate(max_tokens=max_tokens, stop=stop, temperature=repeats.temperature,
                                    seed=repeat_seed)
            grades = _letter_grades(task, queries, examples, raw, self.answers(raw), first_notes if i == 0 else [])
            per_repeat.append(grades)
            for ex, grade in zip(examples, grades.per_example["multiple_choice_grade"]):
                right = ex.picked is not None and is_best(ex.target_scores, ex.picked)
                ex.samples = (ex.samples or []) + [{
                    "response": ex.response, "raw_response": ex.raw_response, "picked": ex.picked,
                    "score": float(grade), "correct": right}]
        self.notes.extend(first_notes[:1])  # what mc=letters is; the unreadable answers of all repeats below
        unread = sum(1 for ex in examples for sample in ex.samples or [] if sample["picked"] is None)
        if unread:
            self.notes.append(f"mc=letters: {unread} of {len(examples) * repeats.k} sampled answers named no "
                              "option, counted wrong")
        _merge(self.values, mean_of_repeats(per_repeat, examples))

    def choices(self) -> None:
        """Multiple choice by the options' log-probs, normalised across each example's options (with repeats:
        K picks drawn from them)."""
        task, queries, examples, repeats = self.task, self.queries, self.examples, self.repeats
        flat = self.ask.loglikelihood([(i, c) for i, q in enumerate(queries) for c in q.choices or ()])
        absolute, pos = [], 0
        for q in queries:
            k = len(q.choices or ())
            absolute.append([float(x) for x in flat[pos:pos + k]])
            pos += k
        normalized = M.normalize_log_probs(absolute)
        used = absolute if task.absolute_normalization else normalized
        for ex, lp in zip(examples, used):
            ex.log_probs = [float(x) for x in lp]
        if self.kind == "choice":  # K picks drawn from the option probabilities, seeded per repeat and example
            for q, ex, lp in zip(queries, examples, normalized):
                options = q.choices or []
                picks = [options[option_sample(lp, repeats.temperature, seed, ex.id)] for seed in repeats.seeds()]
                ex.samples = [{"picked": pick, "score": float((ex.target_scores or {}).get(pick, 0.0)),
                               "correct": is_best(ex.target_scores, pick)} for pick in picks]
        # (multiple-choice queries all have choices and target scores; `or` only tells the type checker)
        _merge(self.values, M.multiple_choice([q.choices or [] for q in queries],
                                              [q.example.target_scores or {} for q in queries], used, absolute,
                                              task.multiple_choice_metrics))

    def generated(self) -> None:
        """Generative metrics on the post-processed generations (with repeats: K samples, their mean)."""
        task, queries, examples = self.task, self.queries, self.examples
        gen_metrics = task.generative_metrics
        per_repeat = []
        seeds: list[int | None] = list(self.repeats.seeds()) if self.kind == "generated" else [None]
        for seed in seeds:
            sampling: dict[str, Any] = {"temperature": self.repeats.temperature, "seed": seed} \
                if seed is not None else {}
            raw = self.ask.generate(max_tokens=self.max_tokens, **sampling)
            responses = [postprocess(a, stop_string=task.stop_string, output_regex=task.output_regex)
                         for a in self.answers(raw)]
            for ex, r, resp in zip(examples, raw, responses):
                ex.raw_response, ex.response = str(r), resp
            try:
                run = M.generative([q.targets for q in queries], responses, gen_metrics, self.options.scorers)
            except M.MetricUnavailable as exc:
                if task.preferred_score == "bleurt":
                    raise
                gen_metrics = [m for m in gen_metrics if m != "bleurt"]
                self.notes.append(f"bleurt not computed: {exc}")
                run = M.generative([q.targets for q in queries], responses, gen_metrics)
            per_repeat.append(run)
            if seed is not None:
                right_wrong = task.preferred_score in RIGHT_WRONG
                scored = run.per_example.get(task.preferred_score)  # none: a judge's score, judged next
                for j, (ex, r, resp) in enumerate(zip(examples, raw, responses)):
                    sample: dict[str, Any] = {"response": resp, "raw_response": str(r)}
                    if scored is not None:
                        sample["score"] = value = float(scored[j])
                        if right_wrong:
                            sample["correct"] = value == 1.0
                    ex.samples = (ex.samples or []) + [sample]
        _merge(self.values, per_repeat[0] if self.kind != "generated" else mean_of_repeats(per_repeat, examples))

    def judged(self, spec: JudgeSpec) -> None:
        """The answers graded by the judge model (``--lm-judge``), or by each judge of a panel. Single grading:
        judge_score, judge_score_weighted where the judge scores continuations, judge_unparsed; pairwise: each
        answer compared with another (``compared_with``) in both orders, judge_win_rate,
        judge_swap_inconsistency, judge_prefers_longer, judge_unparsed. A panel's: each judge's as METRIC@J,
        their mean per example, and judge_alpha, how well they agree. With repeats every sampled answer is
        judged, and with ``judge_samples`` every answer ``judge_samples`` times; an example's values are the
        means of its verdicts, so intervals are clustered by example. Too many unreadable verdicts are an error
        that names the judge."""
        if not self.options.judges:
            raise ValueError("its answers are graded by a judge model (lmbench.judge): name one with --lm-judge "
                             "SPEC, e.g. --lm-judge 'smollm2?chat=1'")
        judges = [declared(j) for j in self.options.judges]
        for judge in judges:
            if judge is self.model:
                self.notes.append(f"the judge {judge.name} is the model under test: judges tend to prefer their own "
                                  "answers (self-preference); use another model as --lm-judge")
        if len(judges) > 1:
            self.notes.append("judged by a panel of " + ", ".join(f"{j}: {judge.name}" for j, judge in
                                                                  enumerate(judges, 1)) +
                              "; each judge's scores are METRIC@J, the panel's the mean of theirs per example")
        pairwise = spec.mode == "pairwise"
        # each example's answers to judge: its K sampled answers with repeats, else its one
        answers = [[str(s.get("response") or "") for s in ex.samples] if self.kind == "generated" and ex.samples
                   else [ex.response or ""] for ex in self.examples]
        units = [(i, answer) for i, group in enumerate(answers) for answer in group]
        refs = [q.targets[0] if q.targets else None for q in self.queries]
        inputs = [q.example.input for q in self.queries]
        if pairwise:
            theirs, against = self.compared_with()
            pairs = [(inputs[i], a, theirs[i], refs[i]) for i, a in units]
        else:
            items = [(inputs[i], a, refs[i]) for i, a in units]
        samples: list[int | None] = list(range(spec.samples)) if spec.samples > 1 else [None]
        per_judge = []
        ratings: list[list[float | None]] = []
        for judge in judges:
            # verdicts[s][u]: verdict sample s of unit u (an example's answer)
            verdicts: list[list[Verdict]] | list[list[Comparison]] = \
                compare_answers(judge, spec, pairs, samples=samples, seed=self.options.seed) if pairwise \
                else judge_answers(judge, spec, items, samples=samples, seed=self.options.seed)
            groups: list[list[Any]] = [[] for _ in self.examples]
            for u, (i, _) in enumerate(units):  # an example's verdicts: answer by answer, each answer's samples
                groups[i].extend(one[u] for one in verdicts)
            flat = [v for one in verdicts for v in one]
            values = [(c.outcome if isinstance(c, Comparison) else c.grade) for c in flat]
            unread = [k for k, value in enumerate(values) if value is None]
            what = "pairs" if pairwise else "answers"
            read = f"{len(flat) - len(unread)} of {len(flat)} {'pairs' if pairwise else 'verdicts'} read"
            if pairwise:
                self.notes.append(f"compared by {judge.name} with {against}, each pair in both orders "
                                  f"({spec.verdict} verdicts): {read}; two verdicts that disagree count as a tie")
            else:
                self.notes.append(f"judged by {judge.name} ({spec.verdict} verdicts on a {spec.low}-{spec.high} "
                                  f"scale): {read}")
            problem = unread_problem(judge.name, len(unread), len(flat), spec, what)
            if problem is not None:
                first = flat[unread[0]]
                text = (first.first.text if first.first_verdict is None else first.second.text) \
                    if isinstance(first, Comparison) else first.text
                example = self.examples[units[unread[0] % len(units)][0]]
                raise ValueError(f"{problem}, e.g. #{example.index}: {_short(str(text or ''), 80)!r}; use a judge "
                                 "that follows the format, verdict \"prefill\", or a pattern")
            per_judge.append((judge.name, groups, pairwise_scores(groups) if pairwise else judge_scores(groups, spec)))
            ratings.append(values)
        clusters = [units[k % len(units)][0] for k in range(len(units) * len(samples))]
        self.panel(per_judge, ratings, (0.0, 0.5, 1.0) if pairwise else spec.grades(), clusters)
        if len(answers) != len(units) or len(samples) > 1:
            self.notes.append(f"{len(units) * len(samples)} verdicts per judge on {len(self.examples)} examples "
                              f"({len(units) // max(1, len(self.examples))} answer(s) each, {len(samples)} verdict(s) "
                              "per answer): an example's judge scores are the means of its verdicts, intervals "
                              "clustered by example")
        if self.task.preferred_score not in self.values.scores:
            why = "none of its verdicts could be read" if all(v is None for r in ratings for v in r) else \
                "it gives no log-probabilities after its prompt (a server's chat API): prefer judge_score"
            raise ValueError(f"its preferred score {self.task.preferred_score} was not computed: the judge "
                             f"{judges[0].name}: {why}")

    def panel(self, per_judge: Sequence[tuple[str, Sequence[Sequence[Any]],
                                              tuple[dict[str, float], dict[str, dict[int, float]]]]],
              ratings: list[list[float | None]], domain: Sequence[float], clusters: Sequence[int]) -> None:
        """Each judge's verdicts onto the examples and their scores into the item's (``scoring.judge.panel_scores``);
        with two judges or more, their agreement (``judge_alpha`` over ``ratings[judge][verdict]`` on the
        ordered values ``domain``, its interval resampling the examples: ``clusters``)."""
        one = len(per_judge) == 1
        for i, ex in enumerate(self.examples):
            ex.judge = shown_verdicts([(name, groups[i]) for name, groups, _ in per_judge])
        scores, per_example = panel_scores([s for _, _, s in per_judge], len(self.examples))
        self.values.scores.update(scores)
        self.sparse.update(per_example)
        if not one:
            alpha, error = panel_agreement(ratings, domain, clusters)
            if math.isnan(alpha):
                self.notes.append("judge_alpha is undefined: the judges never graded one example both, or all gave "
                                  "one and the same verdict")
            else:
                self.values.scores[AGREEMENT] = alpha
                if error is not None:
                    self.errors[AGREEMENT] = error

    def compared_with(self) -> tuple[list[str], str]:
        """What a pairwise judge compares each answer with: the --lm-compare model's answer to the same prompt
        (metered as the ``compare`` role), or, without one or on that model's own item, the example's target;
        and how to say which."""
        other = self.options.compare
        if other is not None and other is not self.model:
            other = declared(other)
            if other.sees_answers:
                _show_answers(other, self.queries)
            asker = _Asker(other, other.prompt_format, self.task, self.queries, {})
            with acting_as("compare"):  # its work is metered apart, as the compared model's
                raw = asker.generate(max_tokens=self.max_tokens)
            return [postprocess(after_thinking(str(t), other.prompt_format.think_end)[0],
                                stop_string=self.task.stop_string, output_regex=self.task.output_regex)
                    for t in raw], f"{other.name}'s answers"
        missing = [q.example.index for q in self.queries if not q.targets]
        if missing:
            raise ValueError(f"a pairwise judge compares each answer with the --lm-compare model's or with the "
                             f"example's target, and example #{missing[0]} has no target: run with --lm-compare")
        return [q.targets[0] for q in self.queries], "the examples' targets"

    def log_likelihoods(self) -> None:
        """``log_likelihood``: log P(target | prompt) of every target."""
        queries = self.queries
        flat = self.ask.loglikelihood([(i, t) for i, q in enumerate(queries) for t in q.targets])
        per_query, pos = [], 0
        for q, ex in zip(queries, self.examples):
            per_query.append([float(x) for x in flat[pos:pos + len(q.targets)]])
            ex.target_log_probs = per_query[-1]
            pos += len(q.targets)
        _merge(self.values, M.log_likelihood(per_query, [q.targets for q in queries]))

    def result(self, start: float) -> TaskResult:
        """Repeats reduced, stated confidence asked, the notes, and the result finished (``pipeline``)."""
        task, examples, values, notes, fmt = self.task, self.examples, self.values, self.notes, self.fmt
        repeat_info = None
        if self.kind is not None and task.preferred_score in judged_scores(task):
            repeat_info = judged_repeats(task.preferred_score, self.repeats, notes)
        elif self.kind is not None:
            binary = self.kind in ("choice", "letters") or task.preferred_score in RIGHT_WRONG
            repeat_info = reduce_repeats(task.preferred_score, self.repeats, examples, values, notes, binary=binary)
        confidence: dict[str, Any] | None = None
        if task.verbalized_confidence is not None:
            for i, ex in enumerate(examples):  # what ask_confidence judges right and wrong by
                ex.scores = {m: float(v[i]) for m, v in values.per_example.items()}
            confidence = ask_confidence(task.verbalized_confidence, self.ask, examples, task.preferred_score)
            notes.append(confidence["note"])
        if self.unfinished:
            notes.append(f"{self.unfinished} response(s) had no {fmt.think_end!r} (the end of the model's "
                         "thinking): no answer, counted wrong")
        if task.n_duplicates:
            notes.append(f"{task.n_duplicates} duplicate example(s) ignored, as BIG-bench does")
        if task.preferred_score not in values.scores and fmt.mc == "letters":
            raise ValueError(f"its preferred score {task.preferred_score} needs option probabilities, which "
                             "mc=letters does not give; run it on a model with prompt log-probabilities")
        result = finish_result(
            task=task.name, model=str(self.options.model_name or self.model.name), shots=self.options.shots or 0,
            examples=examples, scores=values.scores,
            per_example={**{m: dict(enumerate(v)) for m, v in values.per_example.items()}, **self.sparse},
            preferred=task.preferred_score, low=task.low_score, high=task.high_score, path=task.path,
            parent=task.parent, keywords=task.keywords, reliability=values.extra.get("reliability", []),
            confidence=confidence, notes=notes, started=start,
            # the calibration parts of the log-probs the examples carry, computed once for the scores and errors
            memo={"mc_parts": values.extra["mc_parts"]} if "mc_parts" in values.extra else None,
            repeats=repeat_info, errors=self.errors)
        result.prompt_format = fmt.describe()
        return result


def judged_scores(task: Task) -> tuple[str, ...]:
    """The scores ``task``'s judge gives (none without one)."""
    return () if task.judge is None else mode_scores(task.judge.mode)


def _check_repeats(task: Task, model: BaseModel, fmt: PromptFormat, repeats: Repeats) -> str | None:
    """What the repeats of ``task`` sample, before any request: "choice" (options drawn from the log-probs),
    "letters" (mc=letters answers generated), "generated" (generations); None without repeats. Repeats that
    cannot run are a ValueError that says why: a preferred score no sample has (a log-likelihood, a calibration
    error, a corpus statistic), a model that cannot sample asked to generate K times, stated confidence."""
    if not repeats.on:
        return None
    preferred = task.preferred_score
    if task.verbalized_confidence is not None:
        raise ValueError(f"repeats={repeats.k}: verbalized_confidence asks about one answer per example; run "
                         "this task with --lm-repeats 1, or remove lmbench.verbalized_confidence")
    per_example_generative = M.produced_metric_names(task.generative_metrics) - {"bleu"}
    if task.judge is not None and preferred not in per_example_generative and preferred not in judged_scores(task):
        raise ValueError(f"repeats={repeats.k}: a judged task's repeats sample its generated answers, and its "
                         f"preferred score {preferred} is not one of theirs: make a judge score (or a generative "
                         "metric) the preferred_score, or run this task with --lm-repeats 1")
    if task.judge is not None:
        kind = "generated"  # every sampled answer judged
    elif preferred == "multiple_choice_grade":
        kind = "letters" if fmt.mc == "letters" else "choice"
    elif preferred in per_example_generative:
        kind = "generated"
    else:
        why = ("a corpus statistic, with no value per sample" if preferred == "bleu"
               else "computed from log-probabilities, not from a sampled answer")
        raise ValueError(f"repeats={repeats.k}: the preferred score {preferred} is {why}; repeats reduce a score "
                         "each sample has (multiple_choice_grade, exact_str_match, rouge, ...): make one the "
                         "preferred_score, or run this task with --lm-repeats 1")
    if kind != "choice" and not model.supports_sampling:
        raise ValueError(f"repeats={repeats.k} sample the model's generations, and this backend does greedy "
                         "generation only; use a backend that samples (smollm2, llamacpp:, hf:, openai:) or run it "
                         "with --lm-repeats 1")
    return kind


def _letter_grades(task: Task, queries: list[Query], examples: list[ExampleResult], raw: list[str],
                   answers: list[str], notes: list[str]) -> M.MetricValues:
    """mc=letters: the option each answer names (``chat.parse_letter``) and BIG-bench's grade of it (its target
    score; an answer that names none scores 0). There are no probabilities, so no calibration."""
    out = M.MetricValues()
    grades, unreadable = [], []
    for q, ex, text, answer in zip(queries, examples, raw, answers):
        shown = q.shown or []
        pick = parse_letter(answer, shown)
        ex.raw_response, ex.response = str(text), answer
        ex.picked = shown[pick] if pick is not None else None
        scores = q.example.target_scores or {}
        grades.append(float(scores.get(ex.picked, 0.0)) if ex.picked is not None else 0.0)
        if pick is None:
            unreadable.append(ex)
    out.scores["multiple_choice_grade"] = sum(grades) / len(grades) if grades else 0.0
    out.per_example["multiple_choice_grade"] = grades
    dropped = [m for m in task.multiple_choice_metrics if m != "multiple_choice_grade"]
    notes.append("mc=letters: options shown lettered, the answer's letter graded; calibration unavailable (the "
                 "answers carry no probabilities)" + (f"; not computed: {', '.join(dropped)}" if dropped else ""))
    if unreadable:
        notes.append(f"mc=letters: {len(unreadable)} answer(s) named no option, counted wrong (e.g. "
                     f"#{unreadable[0].index}: {_short(unreadable[0].response)!r})")
    return out


def ask_confidence(settings: VerbalizedConfidence, ask: _Asker, examples: list[ExampleResult], preferred: str
                   ) -> dict:
    """Verbalized confidence: after each answer, ask the model how sure it is (the prompt, the answer and the
    follow-up; for chat models the answer as the assistant's turn and the follow-up as the next user turn),
    read the number or word, and score the stated confidences against right/wrong."""
    # what the model answered: its text (generative, mc=letters), else the option its log-probs picked
    answers = [ex.response if ex.response is not None else ex.chosen for ex in examples]
    follow_ups: list[tuple[int, list[Message], str]] = [
        (i, [{"role": "assistant", "content": str(answer or "")}, {"role": "user", "content": settings.prompt.strip()}],
         str(answer or "") + settings.prompt) for i, answer in enumerate(answers)]
    texts = ask.generate(follow_ups, max_tokens=settings.max_tokens, stop=["\n"])
    stated, right = [], []
    for ex, text in zip(examples, texts):
        ex.confidence_text = str(text)
        correct = float(ex.picked_best if ex.picked_best is not None else ex.scores.get(preferred, 0.0))
        ex.scores["correct"] = correct
        confidence = parse_confidence(str(text), settings.words)
        if confidence is not None:
            ex.scores["confidence"] = confidence
            stated.append(confidence)
            right.append(correct)
    calib = confidence_calibration(stated, right)
    calib["note"] = f"stated a confidence on {len(stated)} of {len(examples)} examples"
    if len(stated) < len(examples):
        missing = next(ex for ex in examples if "confidence" not in ex.scores)
        calib["note"] += f" (unreadable, e.g. #{missing.index}: {_short(missing.confidence_text)!r})"
    return calib


def _short(text: str | None, width: int = 40) -> str:
    text = text or ""
    return text if len(text) <= width else text[:width - 3] + "..."


def _merge(into: M.MetricValues, other: M.MetricValues) -> None:
    into.scores.update(other.scores)
    into.per_example.update(other.per_example)
    into.extra.update(other.extra)


def _show_answers(model: BaseModel, queries: list[Query]) -> None:
    model.set_answer_key([(q.prompt, q.example.target_scores, q.targets[0] if q.targets else None)
                          for q in queries])


def split_max_examples(task: Task, max_examples: int | None) -> int | None:
    """BIG-bench's per-subtask limit: a parent's ``max_examples`` split evenly (floor) over its subtasks."""
    return per_subtask(max_examples, len(task.subtasks), task.name)


def per_subtask(max_examples: int | None, subtasks: int, name: str) -> int | None:
    """``max_examples`` for each of ``subtasks`` subtasks (0: a leaf task, which keeps it all)."""
    if max_examples is None or not subtasks:
        return max_examples
    per = max_examples // subtasks
    if per < 1:
        raise ValueError(f"max_examples ({max_examples}) must be at least the number of subtasks "
                         f"({subtasks}) of {name}")
    return per


def evaluate_all(task: Task, model: Model, *, shots: Sequence[int] = (0,), max_examples: int | None = None,
                 **kwargs) -> list[TaskResult]:
    """Every leaf of ``task`` for every shot count, then the parent's aggregates (as BIG-bench orders them)."""
    from pytest_lmbench.core.results import aggregate

    per_leaf = split_max_examples(task, max_examples)
    results = [evaluate(leaf, model, shots=s, max_examples=per_leaf, **kwargs)
               for leaf in task.leaves() for s in shots]
    if task.is_parent:
        names = [leaf.name for leaf in task.leaves()]
        for s in shots:
            subs = [r for r in results if r.shots == s]
            results.append(aggregate_errors(aggregate(task.name, subs, names), subs))
    return results
