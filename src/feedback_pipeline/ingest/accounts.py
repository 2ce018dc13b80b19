"""The accounts source: who the customers behind the items are (plan, segment, revenue).

A CSV or JSON Lines export of the CRM or billing system (``[accounts]``), one row per account:
``customer`` (the id items carry in their ``customer`` field), optional ``plan``, ``segment``,
``owner`` and ``name`` (a display name), and the revenue as ``arr`` or ``mrr`` (MRR is turned into
ARR with ``mrr_to_arr``, 12 by default). Every night the file replaces the ``accounts`` table
whole, in one transaction, each row stamped with the run that loaded it (``loaded_run``), and
the night's counts go to ``account_loads``: an account dropped from the export stops counting
the next night, and the history says when.

Each row goes through its own guard, like every other source's records: a missing customer, a
revenue that is not a non-negative number, or a customer listed twice with different values
rejects the row(s) into ``rejected_items`` (source ``accounts.name``) with the position and the
cause; nothing is dropped silently. A file that cannot be read keeps last night's accounts.

Outputs name an account by its ``label``, decided here once: the configured display name, else
the customer id, else (an id or name shaped like an e-mail or other personal data) a keyed
pseudonym ``acct_…``. E-mails never leave the warehouse as account names.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
from pydantic import Field

from feedback_pipeline.errors import RecordError, SourceError
from feedback_pipeline.ingest.config import IngestConfig
from feedback_pipeline.ingest.exports import SUFFIXES, file_records
from feedback_pipeline.ingest.stage import save_rejections
from feedback_pipeline.records import Rejection, guard_reason, show
from feedback_pipeline.redact import redact
from feedback_pipeline.section import Section
from feedback_pipeline.warehouse.db import transaction

_NUMBER = re.compile(r"\d+(\.\d+)?|\d{1,3}(,\d{3})+(\.\d+)?")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_TEXT_FIELDS = ("plan", "segment", "owner", "name")
MAX_FIELD_CHARS = 200


class AccountsConfig(Section):
    """``[accounts]``: the accounts file joined to items on ``customer`` (no path: none)."""

    path: Path | None = Field(None, description="CSV or JSON Lines file of accounts; unset: no "
                              "accounts, the value component adds nothing.")
    name: str = Field("accounts", description="Source name its rejected rows are kept under.")
    encoding: str = "utf-8"
    mrr_to_arr: float = Field(12.0, gt=0, description="ARR = MRR x this, for rows giving mrr.")
    pseudonym_salt_env: str = Field(
        "FP_AUTHOR_SALT", description="Key of the account pseudonyms (as for authors).")


@dataclass(frozen=True)
class Account:
    customer: str
    label: str
    plan: str | None
    segment: str | None
    arr: float
    arr_from: str  # "arr" | "mrr"
    owner: str | None
    position: str


@dataclass
class AccountRows:
    accounts: list[Account] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)


def account_label(customer: str, name: str | None, salt: str) -> str:
    """The display name, else the id; a pseudonym when either would show personal data."""
    for candidate in (name, customer):
        if candidate and "@" not in candidate and redact(candidate) == candidate:
            return candidate
    digest = hmac.new(salt.encode(), f"account\0{customer}".encode(), hashlib.sha256)
    return "acct_" + digest.hexdigest()[:10]


def _text(record: dict, key: str, *, required: bool = False) -> str | None:
    value = record.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise RecordError(f"missing {key}: every account row needs the id its items carry")
        return None
    if not isinstance(value, str):
        raise RecordError(f"{key} must be a string, got {show(value)}")
    value = value.strip()
    if _CONTROL.search(value) or len(value) > MAX_FIELD_CHARS:
        raise RecordError(f"{key} {show(value)} holds control characters or is over "
                          f"{MAX_FIELD_CHARS} characters")
    return value


def _amount(record: dict, key: str) -> float | None:
    value = record.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise RecordError(f"{key} must be a number, got {show(value)}")
    if isinstance(value, str):
        text = value.strip().removeprefix("$").replace("_", "")
        if not _NUMBER.fullmatch(text):
            raise RecordError(f"{key} must be a non-negative number (e.g. 12000 or 12,000.50), "
                              f"got {show(value)}")
        value = float(text.replace(",", ""))
    if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise RecordError(f"{key} must be a non-negative number, got {show(value)}")
    return float(value)


def parse_account(record: dict, position: str, config: AccountsConfig, salt: str) -> Account:
    """One row as an :class:`Account`; raises :class:`RecordError` naming what is wrong."""
    customer = _text(record, "customer", required=True)
    texts = {k: _text(record, k) for k in _TEXT_FIELDS}
    name = texts["name"] or _text(record, "display_name")
    arr, mrr = _amount(record, "arr"), _amount(record, "mrr")
    if arr is None and mrr is None:
        raise RecordError("no revenue: give arr (annual) or mrr (monthly)")
    if arr is not None and mrr is not None and \
            not math.isclose(arr, mrr * config.mrr_to_arr, rel_tol=0.01):
        raise RecordError(f"arr {arr:g} and mrr {mrr:g} disagree (mrr x {config.mrr_to_arr:g} = "
                          f"{mrr * config.mrr_to_arr:g}); give one of them")
    return Account(customer=customer, label=account_label(customer, name, salt),
                   plan=texts["plan"], segment=texts["segment"],
                   arr=arr if arr is not None else mrr * config.mrr_to_arr,
                   arr_from="arr" if arr is not None else "mrr", owner=texts["owner"],
                   position=position)


def _values(a: Account) -> tuple:
    return (a.label, a.plan, a.segment, round(a.arr, 2), a.owner)


def read_accounts(path: Path, config: AccountsConfig, salt: str,
                  limits: IngestConfig | None = None) -> AccountRows:
    """Every row of the file, as an account or a rejection (never raised).

    Raises:
        SourceError: the file is missing, unreadable or not CSV/JSON Lines.
    """
    if path.suffix.lower() not in SUFFIXES:
        raise SourceError(f"accounts file {path} is not {'/'.join(SUFFIXES)} (accounts.path)")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SourceError(f"cannot read the accounts file {path}: {exc.strerror or exc} "
                          "(accounts.path); last night's accounts are kept") from exc
    rows = AccountRows()
    raws: dict[str, str] = {}
    for position, raw, parsed in file_records(path.name, data, config.encoding,
                                              limits or IngestConfig()):
        try:
            if isinstance(parsed, RecordError):
                raise parsed
            rows.accounts.append(parse_account(parsed, position, config, salt))
            raws[position] = raw
        except Exception as exc:  # noqa: BLE001 - one odd row must not end the file
            rows.rejections.append(Rejection(source=config.name, position=position,
                                             reason=guard_reason(exc), raw=raw))
    by_customer: dict[str, list[Account]] = {}
    for a in rows.accounts:
        by_customer.setdefault(a.customer, []).append(a)
    rows.accounts = []
    for customer, found in by_customer.items():
        if len({_values(a) for a in found}) == 1:  # the same row twice: one account
            rows.accounts.append(found[0])
            continue
        # Which one is right is not ours to guess: none is loaded, each is kept with why.
        where = ", ".join(a.position for a in found)
        for a in found:
            rows.rejections.append(Rejection(
                source=config.name, position=a.position, external_id=customer, raw=raws[a.position],
                reason=f"customer {show(customer)} is listed {len(found)} times with different "
                       f"values ({where}); fix the export so it appears once"))
    return rows


def load_accounts(con: duckdb.DuckDBPyConnection, config: AccountsConfig, *, run_id: str,
                  salt: str, limits: IngestConfig | None = None) -> dict:
    """Replace the ``accounts`` table with the file's accounts (no path: empty it).

    Returns the night's counts; ``error`` set (and the table unchanged) when the file could not
    be read.
    """
    if config.path is None:
        con.execute("DELETE FROM accounts")
        return {"loaded": 0, "rejected": 0}
    try:
        rows = read_accounts(config.path, config, salt, limits)
    except SourceError as exc:
        return {"loaded": 0, "rejected": 0, "error": str(exc)}
    with transaction(con):
        con.execute("DELETE FROM accounts")
        if rows.accounts:
            con.executemany(
                "INSERT INTO accounts (customer, label, plan, segment, arr, arr_from, owner, "
                "position, loaded_run, loaded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, now())",
                [[a.customer, a.label, a.plan, a.segment, a.arr, a.arr_from, a.owner,
                  a.position, run_id] for a in rows.accounts])
        save_rejections(con, config.name, rows.rejections, run_id=run_id)
        con.execute(
            "INSERT OR REPLACE INTO account_loads VALUES (?, ?, ?, ?, ?, now())",
            [run_id, str(config.path), len(rows.accounts), len(rows.rejections),
             sum(a.arr for a in rows.accounts)])
    return {"loaded": len(rows.accounts), "rejected": len(rows.rejections)}


__all__ = ["Account", "AccountRows", "AccountsConfig", "account_label", "load_accounts",
           "parse_account", "read_accounts"]
