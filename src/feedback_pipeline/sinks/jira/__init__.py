"""The Jira sink: one living issue per theme (see ``sink.py`` for the nightly steps).

``settings`` is imported by ``config.py``, so this package imports the sink lazily.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .settings import JiraSettings

if TYPE_CHECKING:
    from .client import build_client
    from .sink import JiraSink


def __getattr__(name: str) -> Any:
    if name == "JiraSink":
        from .sink import JiraSink

        return JiraSink
    if name == "build_client":
        from .client import build_client

        return build_client
    raise AttributeError(name)


__all__ = ["JiraSettings", "JiraSink", "build_client"]
