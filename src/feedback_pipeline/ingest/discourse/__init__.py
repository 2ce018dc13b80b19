"""Discourse topics and posts connector (``settings``, ``fetch``, ``mapping``)."""
