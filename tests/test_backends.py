"""Each backend describes itself in one place (``spec.Backend``): the registry is a table of those, and the
answer cache, option parsing and reports read them instead of lists of backend names."""

from __future__ import annotations

import pytest

from pytest_lmbench.core.errors import ConfigError
from pytest_lmbench.core.models.cache import CachedModel
from pytest_lmbench.core.models.registry import BUILTIN_BACKENDS, Registry, builtin
from pytest_lmbench.core.models.spec import Backend, parse_spec, spec_options


class _Digests:
    def file_digest(self, path: str) -> str:
        return "d"


def test_every_built_in_backend_is_described() -> None:
    described = {name: builtin(name) for name in BUILTIN_BACKENDS}
    assert all(isinstance(b, Backend) and b.name == name and callable(b.factory) for name, b in described.items())
    assert {n for n, b in described.items() if b.cached} == {"smollm2", "llamacpp", "hf", "openai"}
    assert {n for n, b in described.items() if b.sampling} == {"smollm2", "llamacpp", "hf", "openai"}
    for b in described.values():  # typed options: every neutral option is one the backend accepts
        assert b.options is None or (set(b.options.values()) <= {int, float, bool, str} and b.neutral <= set(b.options))


@pytest.mark.parametrize(("a", "b", "same"), [
    ("openai:m?base_url=http://h/v1&concurrency=1", "openai:m?base_url=http://h/v1&concurrency=64", True),
    ("openai:m?base_url=http://h/v1&api_key=one", "openai:m?base_url=http://h/v1&api_key=two", True),
    ("openai:m?base_url=http://h/v1", "openai:m?base_url=http://other/v1", False),
    ("openai:m?chat=0", "openai:m?chat=1", False),
    ("hf:org/model?threads=1", "hf:org/model?threads=8", True),  # was missing from the central list
    ("hf:org/model?batch_size=1", "hf:org/model?batch_size=32", True),
    ("hf:org/model?dtype=float32", "hf:org/model?dtype=bfloat16", False),
    ("llamacpp:m.gguf?n_threads=1", "llamacpp:m.gguf?n_threads=2", True),
    ("llamacpp:m.gguf?n_ctx=512", "llamacpp:m.gguf?n_ctx=2048", False),
    ("openai:m?name=a", "openai:m?name=b", True),  # the label
])
def test_the_cache_identity_leaves_out_exactly_the_neutral_options(a: str, b: str, same: bool) -> None:
    def identity(raw: str) -> str:
        spec = parse_spec(raw)
        return builtin(spec.backend).identity(spec, _Digests().file_digest)

    assert (identity(a) == identity(b)) is same
    assert "one" not in identity("openai:m?api_key=one")


def test_a_plugin_backend_uses_the_same_description(tmp_path) -> None:
    class Echo:
        def __init__(self, spec):
            self.spec = spec

        def loglikelihood(self, requests):
            return [0.0] * len(requests)

        def generate(self, prompts, *, max_tokens, stop=None):
            return list(prompts)

    from pytest_lmbench.core.models.cache import ResponseCache

    registry = Registry(cache=lambda: ResponseCache(str(tmp_path / "c.sqlite")))
    registry.register("echo", Backend(name="echo", factory=Echo, options={"size": int}, cached=True))
    registry.register("bare", Echo)
    cached = registry.get(parse_spec("echo:x?size=3"))
    assert isinstance(cached, CachedModel) and not cached.loaded  # loaded on the first miss only
    assert cached.generate(["hi"], max_tokens=4) == ["hi"] and cached.loaded
    assert not isinstance(registry.get(parse_spec("bare:x")), CachedModel)  # a bare factory: not cached
    with pytest.raises(ConfigError, match="unknown backend 'nope'; known backends: .*echo"):
        registry.get(parse_spec("nope:x"))
    registry.close()


def test_typed_options_are_converted_and_checked() -> None:
    options = {"n": int, "t": float, "on": bool, "s": str}
    assert spec_options(parse_spec("x:y?n=3&t=0.5&on=yes&s=z&name=label"), options) == {
        "n": 3, "t": 0.5, "on": True, "s": "z"}
    with pytest.raises(ConfigError, match="n must be an integer, not 'three'"):
        spec_options(parse_spec("x:y?n=three"), options)
    with pytest.raises(ConfigError, match=r"unknown option\(s\) \['m'\]; known: \['n', 'on', 's', 't'\]"):
        spec_options(parse_spec("x:y?m=1"), options)
