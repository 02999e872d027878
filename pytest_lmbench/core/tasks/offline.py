"""Nothing is downloaded at run time: the Hugging Face libraries another framework loads datasets with (lm-eval,
Inspect) are told to stay offline, so a dataset that is not in the local cache is an error at once instead of a
download attempt (or a long wait on a network that is not there)."""

from __future__ import annotations

import os
import sys

_FLAGS = (("HF_DATASETS_OFFLINE", "datasets.config"), ("HF_HUB_OFFLINE", "huggingface_hub.constants"))


def hf_offline() -> None:
    """Set the offline variables (unless the user set them), and where a Hugging Face library was imported
    before (by another plugin, say) and read them then, its flag too."""
    for variable, module in _FLAGS:
        os.environ.setdefault(variable, "1")
        loaded = sys.modules.get(module)
        if os.environ[variable] == "1" and loaded is not None and hasattr(loaded, variable):
            setattr(loaded, variable, True)
