"""Prefect flows and deployments of feedback-pipeline, imported as ``feedback_pipeline_flows``.

The wheel installs this folder under that name (``hatch_build.py``); in a checkout
``src/feedback_pipeline_flows`` is a link to it, so the same imports work in both.
"""
