"""Slack community channels connector (``config``, ``fetch``, ``mapping``)."""
