"""Intercom conversations connector (``settings``, ``fetch``, ``mapping``)."""
