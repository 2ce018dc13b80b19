"""The Jira sink: one living issue per theme (see ``sink.py`` for the nightly steps).

``render.py`` writes what an issue says (pure), ``store.py`` holds the sink's warehouse queries,
``client.py`` builds the ``jira.JIRA`` client, ``night.py`` is one night's state and error
handling, ``lineage.py`` follows merges, splits, fades and revivals. ``config.py`` is imported by
the settings without loading the rest (``jira`` itself is imported only when a night runs).
"""

from feedback_pipeline._exports import lazy

__all__ = ["JiraConfig", "JiraSink", "build_client"]
__getattr__ = lazy(__name__, {"JiraConfig": "config", "JiraSink": "sink", "build_client": "client"})
