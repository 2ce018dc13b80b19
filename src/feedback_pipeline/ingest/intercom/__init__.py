"""Intercom conversations connector (``config``, ``fetch``, ``mapping``)."""
