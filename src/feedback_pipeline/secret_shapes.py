"""Secret shapes (tokens, keys, webhook URLs, passwords) found in linear time.

Every pattern here runs on RE2 (``google-re2``), whose matching time is linear in the text
whatever the pattern, so no input can make redaction backtrack. The rules are:

* detect-secrets' plugin rules: the ``denylist`` regexes of every plugin of the installed
  ``detect-secrets`` that RE2 accepts (AWS, Azure, Artifactory, basic auth, Cloudant URLs,
  Discord bot, GitHub, JWT, Mailchimp, npm, OpenAI, private-key headers, PyPI, SendGrid, Slack
  tokens and webhooks, SoftLayer URLs, Square, Stripe, Telegram, Twilio). Those that need
  look-arounds (GitLab, IBM, keyword plugins) are covered by ours below or left out;
* shapes detect-secrets lacks, from gitleaks' rule set: Atlassian API tokens (``ATATT3…``),
  Google API keys (``AIza…``), Discord webhooks, Slack workflow webhooks, whole private-key
  blocks, unsigned JWTs, GitLab, Stripe test keys;
* password phrases in several languages (``password hunter2x``, ``pwd: X``, ``passwort``,
  ``пароль``, ``hasło``, ``geslo``…), and generic long high-entropy tokens (Shannon
  entropy with detect-secrets' default limits: 4.5 bits for base64-like, 3.0 for hex).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable

import re2

SECRET = "[secret]"
_OPTIONS = re2.Options()
_OPTIONS.max_mem = 64 << 20


def _re2(pattern: str) -> re2._Regexp:
    return re2.compile(pattern, _OPTIONS)


# A match's delimiters (detect-secrets' Artifactory rules include the space or quote around
# the token) stay; only the secret itself is replaced.
_DELIMITERS = " \t\r\n=:\"'"


def _replace_secret(m) -> str:
    whole = m.group(0)
    if m.re.groups >= 1 and m.group(1):
        start, end = m.start(1) - m.start(0), m.end(1) - m.start(0)
    else:
        start = len(whole) - len(whole.lstrip(_DELIMITERS))
        end = len(whole.rstrip(_DELIMITERS))
    return whole[:start] + SECRET + whole[end:] if end > start else whole


def _detect_secrets_rules() -> list:
    """The plugin regexes of detect-secrets that RE2 compiles (skipped: look-arounds, backrefs,
    the public-IP plugin, which the IP rule of ``redact`` covers)."""
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class

    rules = []
    for plugin in get_mapping_from_secret_type_to_class().values():
        if plugin.__name__ == "IPPublicDetector":
            continue
        for rx in getattr(plugin, "denylist", None) or ():
            if re.search(r"\(\?<?[=!]|\\\d", rx.pattern) or (rx.flags & re.X):
                continue  # RE2 has no look-arounds or backreferences
            try:
                rules.append(_re2(("(?i)" if rx.flags & re.I else "") + rx.pattern))
            except re2.error:
                continue
    return rules


_KEYWORDS = (
    r"password|passwort|passwd|pass\s?phrase|pwd|kennwort|mot\s+de\s+passe|contrase[ñn]a"
    r"|senha|parola|wachtwoord|l[öo]senord|salasana|has[łl]o|heslo|geslo|jelsz[óo]|пароль"
    r"|パスワード|密码|密碼|비밀번호")
# "password X", "pwd: X", "пароль - X", "my password is X": the value (group 1), checked below.
_PASSWORD_PHRASE = _re2(
    rf"(?i)(?:^|[^\pL\pN_])(?:{_KEYWORDS})s?[\"']?(?:\s*(?::=|=>|[:=>])\s*|\s+[-–]\s+|\s+(?:is|ist|est"
    r"|es|é|è|jest|je|это|=)?\s*)[\"'«]?([^\s\"'«»<>,;]{4,})")
_PASSWORD_SEPARATOR = re.compile(r"[:=>]|\s[-–]\s|\b(?:is|ist|est|es|é|è|jest|je|это)\b", re.I)

_OURS = [_re2(p) for p in (
    # Whole private-key blocks (a block cut before its END line loses the rest of its body).
    r"-----BEGIN[ A-Z0-9]{0,40}PRIVATE KEY(?: BLOCK)?-----[^-]*"
    r"(?:-----END[ A-Z0-9]{0,40}PRIVATE KEY(?: BLOCK)?-----)?",
    r"(?:https?://)?hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9+/_-]{8,}",
    r"(?i)(?:https?://)?(?:ptb\.|canary\.)?discord(?:app)?\.com/api/webhooks/\d+/[\w-]+",
    r"\bATATT3[A-Za-z0-9_\-=]{20,}",
    r"\bAIza[\w-]{30,}",
    r"\b[sr]k_(?:live|test)_[0-9A-Za-z]{10,}",
    r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*",
    r"\beyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}",
    r"\b(?:xox[abeoprs]-[\w-]{10,}|xapp-[\w-]{10,}|gh[pousr]_\w{20,}|github_pat_\w{20,}"
    r"|gl(?:pat|dt|ft|soat|rt|ptt|agent|oas|imt)-[\w-]{20,}|GR1348941[\w-]{20,}|sk-[\w-]{20,}"
    r"|(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}|npm_[A-Za-z0-9]{30,}|pypi-[\w-]{50,})",
)]

# key=value / key: value / "Bearer <token>": the value, when it is long enough to be a secret.
_KEY_VALUE = _re2(
    r"(?i)\b(?:api[_-]?key|apikey|secret(?:[_-]?key)?|client[_-]?secret|(?:access|auth|refresh|"
    r"bearer|session)?[_-]?token|password|passwd|pwd|private[_-]?key|aws_secret_access_key"
    r"|authorization)[\"']?\s*[:=]\s*[\"']?(?:Bearer\s+)?([^\s\"'&,;<>]{8,})")
_BEARER = _re2(r"\bBearer\s+([\w\-.~+/]{16,}=*)")
# Candidates for the entropy test: long runs of token characters.
_TOKEN = _re2(r"[A-Za-z0-9+/=_\-]{32,}")
_ENTROPY_SAMPLE = 1_024  # a long blob's entropy is measured on its start
BASE64_LIMIT, HEX_LIMIT = 4.5, 3.0


def shannon_entropy(text: str) -> float:
    """Bits per character (detect-secrets' measure)."""
    counts = Counter(text)
    n = len(text)
    return -sum(c / n * math.log2(c / n) for c in counts.values()) if n else 0.0


def _high_entropy(m) -> str:
    token = m.group(0)
    sample = token.strip("=-_")[:_ENTROPY_SAMPLE]
    if len(sample) < 32 or not any(c.isdigit() for c in sample):
        return token  # words-with-dashes, URL slugs: no digit
    if re.fullmatch(r"[0-9a-fA-F]+", sample):
        return SECRET if shannon_entropy(sample) >= HEX_LIMIT else token
    mixed_case = any(c.islower() for c in sample) and any(c.isupper() for c in sample)
    return SECRET if mixed_case and shannon_entropy(sample) >= BASE64_LIMIT else token


def _password(m) -> str:
    value = m.group(1)
    said = m.group(0)[: m.start(1) - m.start(0)]
    # "password reset" is a topic, "password hunter2hunter2" (a digit or a symbol) is a value;
    # after an explicit "password: ..." / "... is ..." any word of 6+ characters is.
    looks_secret = bool(re.search(r"[^\w]|\d|_", value))
    if not (looks_secret and len(value) >= 6) and not (_PASSWORD_SEPARATOR.search(said)
                                                         and len(value) >= 6):
        return m.group(0)
    return _replace_secret(m)


_RULES: list[tuple[object, Callable | str]] | None = None


def _rules() -> list[tuple[object, Callable | str]]:
    global _RULES
    if _RULES is None:
        # One scan per rule: an RE2::Set of all of them would be one scan, but its DFA thrashes
        # on long token runs (2.3 s on a 1 MB base64 blob) before giving up.
        _RULES = [*((r, SECRET) for r in _OURS), (_PASSWORD_PHRASE, _password),
                  (_KEY_VALUE, _replace_secret), (_BEARER, _replace_secret),
                  *((r, _replace_secret) for r in _detect_secrets_rules()),
                  (_TOKEN, _high_entropy)]
    return _RULES


def redact_secrets(text: str) -> str:
    """``text`` with every secret shape replaced by ``[secret]`` (linear time: RE2)."""
    for rule, repl in _rules():
        text = rule.sub(repl, text)
    return text


__all__ = ["BASE64_LIMIT", "HEX_LIMIT", "SECRET", "redact_secrets", "shannon_entropy"]
