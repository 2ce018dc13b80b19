"""Package ``__init__`` modules name their public API without importing it up front.

``feedback_pipeline.config`` imports every stage's ``config`` module, which runs that stage's
``__init__``; if those imported their stage eagerly, reading the settings would load DuckDB,
numpy and every connector. ``lazy`` resolves a public name on first use instead (PEP 562).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy(package: str, where: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports ``where[name]`` (a submodule) when ``name`` is read."""

    def __getattr__(name: str) -> Any:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{where[name]}"), name)

    return __getattr__


__all__ = ["lazy"]
