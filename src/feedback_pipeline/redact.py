"""PII redaction applied to every text that leaves the warehouse (Jira, Slack, outbox, CLI, logs)."""

from __future__ import annotations

import re
from collections.abc import Iterable

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
_URL_SECRET = re.compile(
    r"(https?://\S*?[?&](?:token|key|api_key|apikey|access_token|secret|sig|signature|password|auth)=)[^&\s]+",
    re.I,
)
_API_KEY = re.compile(
    r"\b(?:xox[abprs]-[\w-]{10,}|gh[pousr]_\w{20,}|sk-[\w-]{20,}|AKIA[0-9A-Z]{16}|AIza[\w-]{35}"
    r"|eyJ[\w-]{10,}\.[\w-]{10,}\.[\w-]{10,})\b"
)
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,3})?\b")
_CARD = re.compile(r"\b(?:\d[ -]?){12,18}\d\b")
_IPV4 = re.compile(r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b")
_IPV6 = re.compile(r"\b(?:[0-9a-fA-F]{1,4}:){7}[0-9a-fA-F]{1,4}\b")
_PHONE = re.compile(r"(?<![\w/])(?!\d{4}-\d{1,2}-\d{1,2}(?!\d))\+?\(?\d{1,4}\)?(?:[ .\-]?\(?\d{2,4}\)?){2,5}(?![\w/])")
_HANDLE = re.compile(r"(?<![\w@])@[A-Za-z0-9_][\w.-]{1,38}\b")


def _luhn_ok(digits: str) -> bool:
    total, parity = 0, len(digits) % 2
    for i, ch in enumerate(digits):
        d = int(ch)
        if i % 2 == parity:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card(m: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", m.group(0))
    return "[card]" if 13 <= len(digits) <= 19 and _luhn_ok(digits) else m.group(0)


_DATE = re.compile(r"\d{4}-\d{1,2}-\d{1,2}|\d{1,2}[/.]\d{1,2}[/.]\d{4}")


def _phone(m: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", m.group(0))
    if _DATE.fullmatch(m.group(0)):
        return m.group(0)  # 2024-03-01, 01/03/2024: a date, not a phone number
    return "[phone]" if 7 <= len(digits) <= 15 else m.group(0)


def redact(text: str, extra_patterns: Iterable[str] = ()) -> str:
    """Replace personal data and secrets with typed placeholders ([email], [card], ...)."""
    if not text:
        return text
    text = _URL_SECRET.sub(r"\1[secret]", text)
    text = _API_KEY.sub("[secret]", text)
    text = _EMAIL.sub("[email]", text)
    text = _IBAN.sub("[iban]", text)
    text = _CARD.sub(_card, text)
    text = _IPV4.sub("[ip]", text)
    text = _IPV6.sub("[ip]", text)
    text = _PHONE.sub(_phone, text)
    text = _HANDLE.sub("@[user]", text)
    for pattern in extra_patterns:
        text = re.sub(pattern, "[redacted]", text)
    return text


__all__ = ["redact"]
