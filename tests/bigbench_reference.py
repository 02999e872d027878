"""Run BIG-bench 1.0.0's own ``json_task.py`` / ``task_metrics.py`` on a task, for conformance tests, and read the
reference recorded from it.

The reference code is not shipped: ``bench/fetch_bigbench.py`` unpacks it from the PyPI sdist, and
``LMBENCH_BIGBENCH_SRC`` points at the unpacked ``bigbench-1.0.0`` directory. Its heavy imports
(TensorFlow, T5, datasets) are replaced by small stand-ins: file access through ``os``, and T5's
``bleu``/``rouge``/``sequence_accuracy`` written after T5 on sacrebleu and rouge-score — except that ROUGE
is the plain mean over examples (T5 takes a bootstrap median, which pytest-lmbench deliberately does not).

What the reference says about the shared tasks is also recorded as data, ``tests/data/bigbench_reference.json``
(written by ``bench/record_bigbench_reference.py``), so that the conformance tests have something to compare
with when the reference code cannot be had.
"""

from __future__ import annotations

import collections
import glob
import hashlib
import json
import os
import sys
import types
from collections.abc import Iterable
from typing import Any

import numpy as np

SRC_ENV = "LMBENCH_BIGBENCH_SRC"


DEFAULT_SRC = os.path.join(os.path.dirname(__file__), "..", ".lmbench", "bigbench-1.0.0")


def reference_source() -> str | None:
    """``$LMBENCH_BIGBENCH_SRC``, else ``.lmbench/bigbench-1.0.0`` (where ``bench/fetch_bigbench.py .lmbench``
    puts it)."""
    for src in (os.environ.get(SRC_ENV), DEFAULT_SRC):
        if src and os.path.isfile(os.path.join(src, "bigbench", "api", "json_task.py")):
            return os.path.abspath(src)
    return None


def _install_stubs() -> None:
    tf = types.ModuleType("tensorflow")
    compat = types.ModuleType("tensorflow.compat")
    v1 = types.ModuleType("tensorflow.compat.v1")
    v1.logging = types.SimpleNamespace(info=lambda *a, **k: None)
    v1.io = types.SimpleNamespace(gfile=types.SimpleNamespace(isdir=os.path.isdir))
    tf.compat, compat.v1, compat.v2 = compat, v1, v1
    sys.modules.update({"tensorflow": tf, "tensorflow.compat": compat, "tensorflow.compat.v1": v1,
                        "tensorflow.compat.v2": v1})
    datasets = types.ModuleType("datasets")

    def load_metric(*args, **kwargs):
        raise RuntimeError("bleurt is not available in the reference run")

    datasets.load_metric = load_metric
    sys.modules["datasets"] = datasets
    try:
        import sklearn.metrics  # noqa: F401
    except ImportError:
        sk = types.ModuleType("sklearn")
        skm = types.ModuleType("sklearn.metrics")

        def f1_score(*args, **kwargs):
            raise RuntimeError("scikit-learn is not installed")

        skm.f1_score = f1_score
        sk.metrics = skm
        sys.modules.update({"sklearn": sk, "sklearn.metrics": skm})

    t5 = types.ModuleType("t5")
    ev = types.ModuleType("t5.evaluation")
    m = types.ModuleType("t5.evaluation.metrics")

    def bleu(targets, predictions, tokenizer="intl"):
        import sacrebleu

        targets = [list(t) for t in targets] if isinstance(targets[0], list) else [targets]
        score = sacrebleu.corpus_bleu(predictions, targets, smooth_method="exp", smooth_value=0.0, force=False,
                                      lowercase=False, tokenize=tokenizer, use_effective_order=False)
        return {"bleu": score.score}

    def rouge(targets, predictions, score_keys=("rouge1", "rouge2", "rougeLsum")):
        from rouge_score import rouge_scorer

        scorer = rouge_scorer.RougeScorer(list(score_keys))
        prep = lambda s: s.replace(" . ", " .\n")  # noqa: E731
        scores = [scorer.score(target=prep(t), prediction=prep(p)) for p, t in zip(predictions, targets)]
        return {k: float(np.mean([s[k].fmeasure for s in scores])) * 100 for k in score_keys}

    def sequence_accuracy(targets, predictions):
        return {"sequence_accuracy": 100 * np.mean([p == t for p, t in zip(predictions, targets)])}

    m.bleu, m.rouge, m.sequence_accuracy = bleu, rouge, sequence_accuracy
    t5.evaluation, ev.metrics = ev, m
    sys.modules.update({"t5": t5, "t5.evaluation": ev, "t5.evaluation.metrics": m})


STUBBED = ("tensorflow", "tensorflow.compat", "tensorflow.compat.v1", "tensorflow.compat.v2", "datasets", "sklearn",
           "sklearn.metrics", "t5", "t5.evaluation", "t5.evaluation.metrics")


def load_json_task_module(src: str):
    before = {name: sys.modules.get(name) for name in STUBBED}
    _install_stubs()
    if src not in sys.path:
        sys.path.insert(0, src)
    if not os.path.isfile(os.path.join(src, "bigbench", "benchmark_tasks", "__init__.py")):
        bt = types.ModuleType("bigbench.benchmark_tasks")  # an extraction of the reference code only
        bt.__path__ = []
        sys.modules["bigbench.benchmark_tasks"] = bt
    try:
        import bigbench.api.json_task as json_task
        import bigbench.api.json_utils as json_utils
        import bigbench.models.model_utils as model_utils
    finally:
        # The reference modules keep their references to the stubs; other libraries in this process
        # (transformers probes for tensorflow and sklearn) must not see them.
        for name, module in before.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module

    class LocalJsonUtils(json_utils.JsonUtils):
        def get_subdir_json_file_paths(self, base_dir):
            base_dir = os.path.abspath(base_dir)
            out = {}
            for d in os.listdir(base_dir):
                p = os.path.join(base_dir, d, "task.json")
                if os.path.isdir(os.path.join(base_dir, d)) and os.path.isfile(p):
                    out[d] = p
            return out

        def load_json_file(self, filepath):
            with open(filepath, "rb") as fh:
                return json.load(fh, object_pairs_hook=collections.OrderedDict)

        task_json_paths = property(lambda self: {})
        task_metadata = property(lambda self: {})

    # scipy >= 1.15 rounds logsumexp differently (log1p around the largest term). BIG-bench 1.0.0 ran with the
    # classic formula, and the normalised log-probs it produces are hashed to break argmax ties, so the
    # reference uses the classic formula too.
    json_task.logsumexp = classic_logsumexp
    return json_task, LocalJsonUtils(), model_utils


def classic_logsumexp(a):
    a = np.asarray(a, dtype=np.float64)
    a_max = np.max(a)
    return np.log(np.sum(np.exp(a - a_max))) + a_max


class ReferenceModelAdapter:
    """BIG-bench's model API over a ScriptedModel; records every prompt it is given."""

    def __init__(self, model, model_utils) -> None:
        self.model = model
        self.model_utils = model_utils
        self.prompts: list[str] = []

    def generate_text(self, inputs, max_length=256, stop_string=None, output_regex=None):
        single = isinstance(inputs, str)
        inputs = [inputs] if single else list(inputs)
        self.prompts.extend(inputs)
        out = [self.model_utils.postprocess_output(self.model.raw_generation(p), max_length, stop_string,
                                                   output_regex) for p in inputs]
        return out[0] if single else out

    def cond_log_prob(self, inputs, targets, absolute_normalization=False):
        single = isinstance(inputs, str)
        inputs = [inputs] if single else list(inputs)
        targets = [targets] if single else targets
        self.prompts.extend(inputs)
        out = [self.model.loglikelihood([(i, t) for t in ts]) for i, ts in zip(inputs, targets)]
        return out[0] if single else out


def reference_scores(src: str, path: str, model, shots: list[int], max_examples: int | None = None
                     ) -> list[dict[str, Any]]:
    """BIG-bench's ScoreData for a task file, as plain dicts, and the prompts the model saw.

    ``model`` is one of ours (wrapped in ReferenceModelAdapter) or a factory ``model_utils -> BIG-bench model``.
    """
    json_task, utils, model_utils = load_json_task_module(src)
    adapter = model(model_utils) if callable(model) and not hasattr(model, "loglikelihood") else \
        ReferenceModelAdapter(model, model_utils)
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        task = json_task.JsonTask(path, shot_list=shots, task_json_utils=utils)
        scores = task.evaluate_model(adapter, max_examples=max_examples)
    out = []
    for s in scores:
        out.append({"task": s.subtask_description, "shots": s.number_of_shots, "scores": dict(s.score_dict),
                    "preferred_score": s.preferred_score, "low_score": s.low_score, "high_score": s.high_score})
    return out, getattr(adapter, "prompts", [])


# -- the recorded reference --------------------------------------------------------------------------------------

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.path.normpath(os.path.join(HERE, "..", "..", "shared", "bigbench-tasks"))
RECORDING = os.path.join(HERE, "data", "bigbench_reference.json")
#: The runs recorded and compared for every shared task: shot counts 0 and 1, all examples and the first 7
SHOTS = [0, 1]
MAX_EXAMPLES: list[int | None] = [None, 7]


def task_files(root: str = SHARED) -> list[str]:
    """The task files of ``root`` that are evaluated on their own: subtasks go through their parent."""
    from pytest_lmbench.core.tasks.bigbench import is_parent_task_file

    out = []
    for f in sorted(glob.glob(os.path.join(root, "**", "task.json"), recursive=True)):
        parent = os.path.join(os.path.dirname(os.path.dirname(f)), "task.json")
        if os.path.isfile(parent) and is_parent_task_file(parent):
            continue  # evaluated through its parent
        out.append(f)
    return out


def task_family(path: str) -> list[str]:
    """A task file and its subtasks' files: what the scripted model reads and what the recording fingerprints."""
    return [path] + sorted(glob.glob(os.path.join(os.path.dirname(path), "*", "task.json")))


def files_sha256(paths: Iterable[str]) -> str:
    h = hashlib.sha256()
    for p in paths:
        with open(p, "rb") as fh:
            h.update(hashlib.sha256(fh.read()).digest())
    return h.hexdigest()


def prompts_digest(prompts: Iterable[str]) -> dict[str, Any]:
    """The distinct prompts a run showed the model, as a count and a SHA-256 of them sorted (NUL-separated)."""
    distinct = sorted(set(prompts))
    return {"count": len(distinct), "sha256": hashlib.sha256("\x00".join(distinct).encode("utf-8")).hexdigest()}


def run_key(path: str, max_examples: int | None, root: str = SHARED) -> str:
    """``TASK_DIR@all`` or ``TASK_DIR@7``: a run's key in the recording."""
    return f"{os.path.relpath(os.path.dirname(path), root)}@{'all' if max_examples is None else max_examples}"


def our_scores(path: str, max_examples: int | None) -> tuple[list[dict[str, Any]], list[str]]:
    """pytest-lmbench's ScoreData for a task file with the scripted model, in the form ``reference_scores`` gives
    BIG-bench's, and the prompts the model saw."""
    from scripted_model import ScriptedModel

    from pytest_lmbench.core.evaluate import evaluate_all
    from pytest_lmbench.core.tasks.bigbench import load_task

    model = ScriptedModel.for_task_files(task_family(path))
    results = evaluate_all(load_task(path), model, shots=SHOTS, max_examples=max_examples)
    return score_data(results), [e.prompt for r in results for e in r.examples]


def score_data(results: Iterable[Any]) -> list[dict[str, Any]]:
    """pytest-lmbench's TaskResults in the form ``reference_scores`` gives BIG-bench's ScoreData."""
    return [{"task": r.task, "shots": r.shots, "scores": dict(r.scores), "preferred_score": r.preferred_score,
             "low_score": r.low_score, "high_score": r.high_score} for r in results]


def bigbench_scores(src: str, path: str, max_examples: int | None) -> tuple[list[dict[str, Any]], list[str]]:
    """BIG-bench's own ScoreData for a task file with the scripted model, and the prompts it gave the model."""
    from scripted_model import ScriptedModel

    scores, prompts = reference_scores(src, path, ScriptedModel.for_task_files(task_family(path)), SHOTS,
                                       max_examples=max_examples)
    plain = [{**s, "scores": {k: float(v) for k, v in s["scores"].items()}, "low_score": float(s["low_score"]),
              "high_score": float(s["high_score"])} for s in scores]  # numpy scalars as JSON numbers
    return plain, prompts


def scripted_model_sha256() -> str:
    """The scripted model's source: its answers are part of what the recording records."""
    return files_sha256([os.path.join(HERE, "scripted_model.py")])


def load_recording(path: str = RECORDING) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def score_differences(mine: list[dict[str, Any]], reference: list[dict[str, Any]]) -> list[str]:
    """Where two ScoreData lists differ (empty: they agree): the tasks and shot counts, the metric names, every
    score (to 1e-6; BLEU and ROUGE, computed by other libraries, to 1e-4) and the preferred score and its bounds."""
    problems = []
    by_key = {(r["task"], r["shots"]): r for r in mine}
    if sorted(by_key) != sorted((r["task"], r["shots"]) for r in reference):
        return [f"(task, shots) {sorted(by_key)} != {sorted((r['task'], r['shots']) for r in reference)}"]
    for ref in reference:
        got, where = by_key[(ref["task"], ref["shots"])], f"{ref['task']} {ref['shots']}-shot"
        if set(got["scores"]) != set(ref["scores"]):
            problems.append(f"{where}: metrics {sorted(got['scores'])} != {sorted(ref['scores'])}")
            continue
        for metric, value in ref["scores"].items():
            tol = 1e-4 if metric.startswith(("bleu", "rouge")) else 1e-6
            if not abs(got["scores"][metric] - value) <= tol:
                problems.append(f"{where}: {metric} {got['scores'][metric]!r} != {value!r}")
        if got["preferred_score"] != ref["preferred_score"]:
            problems.append(f"{where}: preferred_score {got['preferred_score']!r} != {ref['preferred_score']!r}")
        for bound in ("low_score", "high_score"):
            if not abs(got[bound] - ref[bound]) <= 1e-9:
                problems.append(f"{where}: {bound} {got[bound]!r} != {ref[bound]!r}")
    return problems
