"""Slack community channels connector (``settings``, ``fetch``, ``mapping``)."""
