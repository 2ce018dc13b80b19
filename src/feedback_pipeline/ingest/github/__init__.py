"""GitHub issues connector (``settings``, ``fetch``, ``mapping``)."""
