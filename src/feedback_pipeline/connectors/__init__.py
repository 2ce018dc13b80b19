"""HTTP connectors (Discourse, Slack, GitHub, Zendesk, Intercom) and their shared machinery.

Shared, written once: ``http.py`` (timeouts, retries honouring ``Retry-After``, token redaction,
clear errors), ``paginate.py`` (pagination strategies), ``common.py`` (cursor and batch helpers)
and ``settings.py`` (the settings every connector has). One folder per connector holds its
settings, its fetch generators (raw pages) and a pure ``mapping.py`` (payload -> Item/Rejection).

This package imports nothing at load time, so ``config.py`` can import the settings modules.
"""
