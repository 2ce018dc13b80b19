"""Zendesk Support tickets connector (``config``, ``fetch``, ``mapping``)."""
