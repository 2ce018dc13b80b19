"""Wheel build hook: what the wheel ships besides ``src/feedback_pipeline``.

* ``flows/*.py`` as the package ``feedback_pipeline_flows`` (the repository keeps its ``flows/``
  folder; a top-level package named ``flows`` would clash with any other project's).
* ``warehouse/*.sql`` as ``feedback_pipeline/_warehouse_sql/`` (never the local ``*.duckdb``).
* ``demo/feedback_demo.jsonl`` as ``feedback_pipeline/_demo/``: the default source without a config,
  and ``demo/accounts_demo.csv`` beside it: the demo's accounts (``[accounts]``).

Files are listed by pattern here rather than as folders in pyproject.toml, since a folder
force-include copies everything in it (a 7 MB ``warehouse/feedback.duckdb``, ``__pycache__``).
An editable install gets none of it: the checkout's folders are read in place
(``feedback_pipeline/paths.py``, ``src/feedback_pipeline_flows`` links to ``flows/``).
"""

from __future__ import annotations

from pathlib import Path

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

SHIPPED = [
    ("flows", "*.py", "feedback_pipeline_flows"),
    ("warehouse", "*.sql", "feedback_pipeline/_warehouse_sql"),
    ("demo", "feedback_demo.jsonl", "feedback_pipeline/_demo"),
    ("demo", "accounts_demo.csv", "feedback_pipeline/_demo"),
]


class ShipDataHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict) -> None:
        if self.target_name != "wheel" or version == "editable":
            return
        root = Path(self.root)
        for folder, pattern, target in SHIPPED:
            files = sorted((root / folder).glob(pattern))
            if not files:
                raise RuntimeError(f"nothing matches {folder}/{pattern}: the wheel would lack it")
            for path in files:
                build_data["force_include"][str(path)] = f"{target}/{path.name}"
