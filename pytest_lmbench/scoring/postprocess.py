"""Output post-processing, as BIG-bench's ``postprocess_output`` does it (the harness does it, not models)."""

from __future__ import annotations

import re
from functools import lru_cache

#: BIG-bench cuts raw model output to this many characters before anything else.
BIGBENCH_MAX_LENGTH = 256


@lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def postprocess(text: str, *, stop_string: str | None, output_regex: str | None,
                max_length: int | None = BIGBENCH_MAX_LENGTH) -> str:
    """Cut to ``max_length`` chars, then just after ``stop_string`` (if found past index 0), then take the
    first match of ``output_regex`` ("" when nothing matches)."""
    if max_length:
        text = text[:max_length]
    if stop_string:
        index = text.find(stop_string)
        if index > 0:
            text = text[: index + len(stop_string)]
    if output_regex:
        match = _compiled(output_regex).search(text)
        if match is None:
            return ""
        # re.findall semantics: the whole match, or the single group when there is one.
        return (match.group(1) or "") if match.re.groups == 1 else match.group(0)
    return text
