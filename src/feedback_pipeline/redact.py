"""PII redaction applied to every text that leaves the warehouse (Jira, Slack, outbox, CLI, logs)."""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, unquote, unquote_plus, urlsplit, urlunsplit

import re2

from feedback_pipeline.secret_shapes import redact_secrets

# RE2 (linear time) for the patterns that need no look-around; the rest below are bounded.
_EMAIL = re2.compile(r"[\pL\pN_.+-]+@[\pL\pN_-]+(?:\.[\pL\pN_-]+)+")
_URL_SECRET = re2.compile(
    r"(?i)(https?://\S*?[?&#](?:token|key|api_key|api-key|apikey|access_token|refresh_token"
    r"|id_token|auth_token|private_token|client_secret|secret|sig|signature|x-amz-signature"
    r"|x-amz-credential|password|passwd|pwd|auth|code|session|sessionid|sid|jwt)=)[^&#\s]+")
# https://user:password@host: the credentials part, before the e-mail rule sees "password@host".
_URL_USERINFO = re2.compile(r"(?i)(https?://)[^/\s:@]+:[^/\s@]+@")
# A URL longer than this is withheld whole: no link of ours is that long, and every pattern
# below then works on bounded pieces.
MAX_URL_CHARS = 2_048
_LONG_TOKEN = re.compile(rf"(?<!\S)\S{{{MAX_URL_CHARS + 1},}}")
_IBAN = re2.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,3})?\b")
_CARD = re2.compile(r"\b(?:\d[ -]?){12,18}\d\b")
_IPV4 = re2.compile(r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b")
# Full and compressed (::) forms, optionally ending in a dotted quad; checked by ipaddress.
_IPV6 = re.compile(
    r"(?<![\w:.])(?:[0-9a-fA-F]{0,4}:){2,7}(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9a-fA-F]{1,4})?"
    r"(?:%\w+)?(?![\w:])"
)
# A country code may be followed by a one-digit group (+33 6 12 34 56 78) or "(0)".
# Separators include Unicode dashes and spaces (full-width "－" in Japanese text).
_SEP = "[ .\\-\u00a0\u2010-\u2015\u2212\u3000\uff0d]"
_PHONE = re.compile(
    r"(?<![\w/])(?!\d{4}-\d{1,2}-\d{1,2}(?!\d))"
    rf"(?:[+＋]\d{{1,3}}{_SEP}?(?:\(0\){_SEP}?)?\(?\d{{1,4}}\)?|\(?\d{{1,4}}\)?)"
    rf"(?:{_SEP}?\(?\d{{2,4}}\)?){{2,5}}(?![\w/])"
)
_HANDLE = re.compile(r"(?<![\w@\]])@\w[\w.-]{1,38}\b")


def _luhn_ok(digits: str) -> bool:
    total, parity = 0, len(digits) % 2
    for i, ch in enumerate(digits):
        d = int(ch)
        if i % 2 == parity:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card(m) -> str:  # an RE2 match
    digits = re.sub(r"\D", "", m.group(0))
    return "[card]" if 13 <= len(digits) <= 19 and _luhn_ok(digits) else m.group(0)


_DATE = re.compile(r"\d{4}-\d{1,2}-\d{1,2}|\d{1,2}[/.]\d{1,2}[/.]\d{4}")


def _phone(m: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", m.group(0))
    if _DATE.fullmatch(m.group(0)):
        return m.group(0)  # 2024-03-01, 01/03/2024: a date, not a phone number
    return "[phone]" if 7 <= len(digits) <= 15 else m.group(0)


def _ipv6(m: re.Match[str]) -> str:
    candidate = m.group(0).split("%", 1)[0]
    if candidate.count(":") < 2 or not re.search(r"\d", candidate):  # not "Bad::Add"
        return m.group(0)
    try:
        ipaddress.IPv6Address(candidate)
    except ValueError:
        return m.group(0)
    return "[ip]"


# Extra patterns from the configuration (``[redact] extra_patterns``), applied by every call.
_configured: list[re.Pattern[str]] = []


def set_extra_patterns(patterns: Iterable[str]) -> None:
    """Make every later :func:`redact` call also replace these regexes with ``[redacted]``.

    Raises:
        re.error: a pattern is not a valid regular expression.
    """
    _configured[:] = [re.compile(p) for p in patterns]


def _long_token(m: re.Match[str]) -> str:
    token = m.group(0)
    return "[url withheld]" if "://" in token else token


def redact(text: str, extra_patterns: Iterable[str] = ()) -> str:
    """Replace personal data and secrets with typed placeholders ([email], [secret], ...).

    Linear in the length of ``text``: the secret shapes and e-mails run on RE2, the other
    patterns have bounded repetitions; a URL over ``MAX_URL_CHARS`` is withheld whole.
    """
    if not text:
        return text
    if len(text) > MAX_URL_CHARS:
        text = _LONG_TOKEN.sub(_long_token, text)
    text = _URL_USERINFO.sub(r"\1[secret]@", text)
    text = _URL_SECRET.sub(r"\1[secret]", text)
    text = redact_secrets(text)
    text = _EMAIL.sub("[email]", text)
    text = _IBAN.sub("[iban]", text)
    text = _CARD.sub(_card, text)
    if "::" in text or text.count(":") >= 2:
        text = _IPV6.sub(_ipv6, text)
    text = _IPV4.sub("[ip]", text)
    text = _PHONE.sub(_phone, text)
    if "@" in text:
        text = _HANDLE.sub("@[user]", text)
    for pattern in [*_configured, *extra_patterns]:
        text = re.sub(pattern, "[redacted]", text)
    return text


# Query/fragment parameters whose value names a person or grants access, whatever it looks like
# (``?u=alice``, ``?requester=123``); compared after lower-casing and ``-`` -> ``_``.
_PERSONAL_PARAMS = {
    "u", "user", "username", "user_name", "userid", "user_id", "uid", "login", "name",
    "fullname", "full_name", "first_name", "last_name", "requester", "requester_id",
    "reporter", "assignee", "author", "customer", "customer_id", "contact", "account",
    "account_id", "address", "ip", "phone", "mobile", "tel",
}
_PERSONAL_PARTS = ("token", "secret", "passw", "pwd", "auth", "session", "sig", "key", "mail",
                   "phone", "credential", "jwt", "code", "otp")
_ID_VALUE = re.compile(r"\d{1,12}")  # a plain numeric id, not a phone or card number


def _personal_params(text: str) -> bool:
    if "=" not in text:
        return redact(unquote(text)) != unquote(text)
    for key, value in parse_qsl(text, keep_blank_values=True):
        name = key.strip().lower().replace("-", "_")
        if name in _PERSONAL_PARAMS or any(part in name for part in _PERSONAL_PARTS):
            return True
        if not _ID_VALUE.fullmatch(value) and redact(unquote_plus(value)) != unquote_plus(value):
            return True
    return False


def safe_link_url(url: str | None, *, max_length: int = 500) -> str | None:
    """A source link fit to leave the warehouse (Jira, Slack), or None.

    Customer links often carry personal data or access tokens in the query string
    (``?token=…``, ``?requester=jane@…``, ``?u=alice``). The query and fragment are dropped
    when any parameter is personal (by name, or because :func:`redact` would change its decoded
    value), and so are ``user:password@`` credentials; the link is withheld (None) when what
    is left still carries personal data (an e-mail in the path) or is not a plain http(s) URL.
    """
    if not url or len(url) > max_length or not re.match(r"https?://\S+$", url, re.I):
        return None
    try:
        parts = urlsplit(url)
        netloc = parts.netloc.rsplit("@", 1)[-1]
        host = parts.hostname
    except ValueError:
        return None
    if not host:
        return None
    query, fragment = parts.query, parts.fragment
    if _personal_params(query) or _personal_params(fragment):
        query = fragment = ""
    base = unquote(f"{parts.scheme}://{netloc}")
    whole = unquote(f"{base}{parts.path}")  # shapes that span segments: webhook URLs
    if redact_secrets(whole) != whole or redact(base) != base or any(
            not _ID_VALUE.fullmatch(seg) and redact(seg) != seg
            for seg in (unquote(s) for s in parts.path.split("/"))):
        return None
    return urlunsplit((parts.scheme, netloc, parts.path, query, fragment))


class RedactingFilter(logging.Filter):
    """A logging filter that redacts the formatted message of every record it sees."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


_FILTER = RedactingFilter()
LOG_ROOTS = ("feedback_pipeline", "prefect.flow_runs", "prefect.task_runs")


def redact_logs(roots: Iterable[str] = LOG_ROOTS) -> None:
    """Attach :class:`RedactingFilter` to these loggers and every existing logger below them.

    A logger's filters only see its own records, so each module logger gets the filter.
    """
    names = [n for n in logging.Logger.manager.loggerDict
             if any(n == r or n.startswith(r + ".") for r in roots)]
    for name in {*roots, *names}:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


__all__ = ["RedactingFilter", "redact", "redact_logs", "safe_link_url", "set_extra_patterns"]
