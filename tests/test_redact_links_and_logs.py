"""Redaction where the PII gate relies on it besides plain text: log records, the configured
extra patterns, card and IP edge cases, links (found by mutation testing, see RELIABILITY.md)."""

from __future__ import annotations

import logging

import pytest

from feedback_pipeline import redact as redact_module
from feedback_pipeline.redact import (
    RedactingFilter,
    redact,
    redact_logs,
    safe_link_url,
    set_extra_patterns,
)


def _record(msg: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord("feedback_pipeline.x", logging.INFO, __file__, 1, msg, args, None)


def test_a_log_record_is_redacted_after_formatting_and_never_dropped():
    record = _record("export for %s failed (card %s)", "jane.doe@example.com",
                     "4111 1111 1111 1111")

    assert RedactingFilter().filter(record) is True
    assert record.getMessage() == "export for [email] failed (card [card])"


def test_a_clean_log_record_keeps_its_arguments():
    record = _record("%d items from %s", 3, "forum")

    assert RedactingFilter().filter(record) is True
    assert (record.msg, record.args) == ("%d items from %s", (3, "forum"))


def test_redact_logs_covers_the_roots_and_the_loggers_below_them_once(caplog):
    child = logging.getLogger("prefect.task_runs.redaction_test_child")
    outside = logging.getLogger("prefect_unrelated_redaction_test")
    redact_logs()
    redact_logs()

    for name in ("feedback_pipeline", "prefect.flow_runs", "prefect.task_runs", child.name):
        filters = logging.getLogger(name).filters
        assert sum(isinstance(f, RedactingFilter) for f in filters) == 1, name
    assert not any(isinstance(f, RedactingFilter) for f in outside.filters)
    with caplog.at_level(logging.INFO):
        child.info("reply to %s", "bob@example.org")
    assert caplog.records[-1].getMessage() == "reply to [email]"


@pytest.fixture
def restore_extra_patterns():
    saved = [p.pattern for p in redact_module._configured]
    yield
    set_extra_patterns(saved)


def test_configured_patterns_apply_to_every_call_and_replace_the_previous_ones(
        restore_extra_patterns):
    set_extra_patterns([r"ACME-\d{4}"])
    assert redact("customer ACME-4411") == "customer [redacted]"
    set_extra_patterns([r"TICKET-\d+"])
    assert redact("ACME-4411 and TICKET-9") == "ACME-4411 and [redacted]"
    assert redact("TICKET-9 and ORDER-7", extra_patterns=[r"ORDER-\d"]) == \
        "[redacted] and [redacted]"


def _with_check_digit(body: str) -> str:
    """``body`` plus the digit that makes it pass the Luhn check (computed here, not by us)."""
    for check in "0123456789":
        digits = [int(c) for c in body + check][::-1]
        total = sum(d if i % 2 == 0 else (d * 2 - 9 if d > 4 else d * 2)
                    for i, d in enumerate(digits))
        if total % 10 == 0:
            return body + check
    raise AssertionError("unreachable")


@pytest.mark.parametrize("length", [13, 16, 19])
def test_cards_of_every_length_are_redacted_when_their_check_digit_is_right(length):
    card = _with_check_digit("4" + "1" * (length - 2))
    wrong = card[:-1] + str((int(card[-1]) + 1) % 10)

    assert redact(f"card {card} charged") == "card [card] charged"
    assert "[card]" not in redact(f"order {wrong} shipped")  # (13 digits may read as a phone)


@pytest.mark.parametrize(("text", "expected"), [
    ("from 2001:db8::1 again", "from [ip] again"),
    ("from 2001:0db8:0000:0000:0000:ff00:0042:8329 again", "from [ip] again"),
    ("link-local fe80::1%eth0 seen", "link-local [ip] seen"),
    ("mapped ::ffff:192.0.2.128 seen", "mapped [ip] seen"),
    ("at 10:30:45 sharp", "at 10:30:45 sharp"),
    ("C++ std::vector::size", "C++ std::vector::size"),
    ("Bad::Add", "Bad::Add"),
])
def test_ipv6_addresses_are_redacted_and_look_alikes_are_not(text, expected):
    assert redact(text) == expected


def test_links_longer_than_the_limit_are_withheld():
    url = "https://forum.example.com/t/" + "/".join(["export"] * 67)
    assert len(url) == 496

    assert safe_link_url(url) == url
    assert safe_link_url(url + "/more") is None
    assert safe_link_url("https://forum.example.com/t/1", max_length=10) is None


@pytest.mark.parametrize(("url", "expected"), [
    ("https://forum.example.com/t/9?page=2&ref=digest",
     "https://forum.example.com/t/9?page=2&ref=digest"),
    ("https://x.example.com/a?session_id=abc", "https://x.example.com/a"),
    ("https://x.example.com/a?Customer-Id=17", "https://x.example.com/a"),
    ("https://x.example.com/a?ref=jane.doe%40example.org", "https://x.example.com/a"),
    ("https://x.example.com/a?id=20978392", "https://x.example.com/a?id=20978392"),
    ("https://x.example.com/a#reply-to-bob@example.org", "https://x.example.com/a"),
    ("https://x.example.com/a#section-2", "https://x.example.com/a#section-2"),
    ("https:///no-host", None),
    ("https://[::1/a", None),
])
def test_link_query_and_fragment(url, expected):
    assert safe_link_url(url) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("use Bearer abcdefghijklmnopqrstu to call", "use Bearer [secret] to call"),
    ("clone https://bob:pa55w0rd@git.example.com/x now",
     "clone https://[secret]@git.example.com/x now"),
    ("call 555 01 43 today", "call [phone] today"),  # 7 digits, the shortest phone number
    ("call +123 4567 8901 2346 today", "call [phone] today"),  # 15, the longest (no card)
])
def test_placeholders_and_phone_length_bounds(text, expected):
    assert redact(text) == expected


@pytest.mark.parametrize(("url", "expected"), [
    ("HTTPS://forum.example.com/t/1", "https://forum.example.com/t/1"),
    ("https://bob:p@ss@git.example.com/x", "https://git.example.com/x"),
    ("https://forum.example.com/t/export-fails/20978392/4",
     "https://forum.example.com/t/export-fails/20978392/4"),
])
def test_link_scheme_case_userinfo_with_at_and_long_numeric_ids(url, expected):
    assert safe_link_url(url) == expected


def test_a_link_exactly_at_the_limit_is_kept():
    url = "https://forum.example.com/t/1"

    assert safe_link_url(url, max_length=len(url)) == url
