"""GitHub issues connector (``config``, ``fetch``, ``mapping``)."""
