"""Discourse topics and posts connector (``config``, ``fetch``, ``mapping``)."""
