"""One fingerprint for texts and payloads: the first 32 hex digits of their SHA-256.

Used to key cached embeddings by text and to tell whether a delivery's payload changed; 128 bits
keep collisions out of reach at any warehouse size while keeping keys short.
"""

from __future__ import annotations

import hashlib
import json


def fingerprint(text: str, *, errors: str = "strict") -> str:
    """``errors="replace"`` for text that may hold lone surrogates (a rejected raw record)."""
    return hashlib.sha256(text.encode("utf-8", errors)).hexdigest()[:32]


def payload_json(payload: object) -> str:
    """The canonical JSON of a payload: sorted keys, anything else as its string."""
    return json.dumps(payload, sort_keys=True, default=str)


def payload_fingerprint(payload: object) -> str:
    return fingerprint(payload_json(payload))


__all__ = ["fingerprint", "payload_fingerprint", "payload_json"]
