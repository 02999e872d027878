"""The evaluation core: tasks, models, scoring, statistics, evaluation and results. It never imports pytest
or anything of ``pytest_lmbench.report`` and ``pytest_lmbench.plugin`` (tests/test_layers.py checks)."""
