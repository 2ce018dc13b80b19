"""Zendesk Support tickets connector (``settings``, ``fetch``, ``mapping``)."""
