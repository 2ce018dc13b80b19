"""The accounts source: good and bad rows, CSV and JSON Lines, MRR, duplicates, nightly replace."""

import json

import pytest

from feedback_pipeline.ingest.accounts import AccountsConfig, account_label, load_accounts

SALT = "test-salt"


def load(con, path, run_id="run-1", **config):
    return load_accounts(con, AccountsConfig(path=path, **config), run_id=run_id, salt=SALT)


def accounts(con):
    return {r[0]: r[1:] for r in con.execute(
        "SELECT customer, label, plan, segment, arr, arr_from, owner, loaded_run FROM accounts "
        "ORDER BY customer").fetchall()}


def rejections(con):
    return {r[0]: r[1] for r in con.execute(
        "SELECT position, reason FROM rejected_items WHERE source = 'accounts'").fetchall()}


CSV = """customer,name,plan,segment,arr,mrr,owner
acme,Acme Corp,enterprise,enterprise,"120,000",,dana
globex,,pro,mid-market,,1000,
,Nameless,pro,smb,5000,,
initech,Initech,pro,smb,n/a,,
hooli,Hooli,free,smb,,,
umbrella,Umbrella,team,smb,3000,250,
vandelay,Vandelay,pro,smb,1200,50,
acme,Acme Corp,enterprise,enterprise,"120,000",,dana
stark,Stark,enterprise,enterprise,500000,,
stark,Stark Industries,enterprise,enterprise,500000,,
"""


def test_csv_good_rows_load_and_bad_rows_are_kept_with_their_cause(warehouse, tmp_path):
    path = tmp_path / "accounts.csv"
    path.write_text(CSV, encoding="utf-8")

    stats = load(warehouse, path)

    assert accounts(warehouse) == {
        "acme": ("Acme Corp", "enterprise", "enterprise", 120_000.0, "arr", "dana", "run-1"),
        "globex": ("globex", "pro", "mid-market", 12_000.0, "mrr", None, "run-1"),  # 1000 x 12
        "umbrella": ("Umbrella", "team", "smb", 3_000.0, "arr", None, "run-1"),  # 250 x 12 agrees
    }
    rejected = rejections(warehouse)
    assert set(rejected) == {"accounts.csv:4", "accounts.csv:5", "accounts.csv:6",
                             "accounts.csv:8", "accounts.csv:10", "accounts.csv:11"}
    assert rejected["accounts.csv:4"].startswith("missing customer")
    assert "arr must be a non-negative number" in rejected["accounts.csv:5"]
    assert "'n/a'" in rejected["accounts.csv:5"]
    assert rejected["accounts.csv:6"].startswith("no revenue")
    assert "disagree" in rejected["accounts.csv:8"]
    # stark twice with different names: neither is loaded, both are kept, naming each other
    assert "listed 2 times with different values (accounts.csv:10, accounts.csv:11)" in \
        rejected["accounts.csv:10"]
    assert stats == {"loaded": 3, "rejected": 6}  # the identical acme row is one account
    raw = warehouse.execute("SELECT raw FROM rejected_items WHERE position = 'accounts.csv:5'"
                            ).fetchone()[0]
    assert "initech" in raw and "n/a" in raw  # the row as read, for the fix
    assert warehouse.execute("SELECT loaded, rejected, total_arr FROM account_loads").fetchall() \
        == [(3, 6, 135_000.0)]


def test_jsonl_rows_numbers_and_mrr_factor(warehouse, tmp_path):
    path = tmp_path / "accounts.jsonl"
    rows = [{"customer": 318, "plan": "enterprise", "segment": "enterprise", "mrr": 2500.5},
            {"customer": "cust-2", "arr": True},
            {"customer": "cust-3", "arr": -5},
            {"customer": "cust-4", "display_name": "Four Ltd", "arr": 10}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n{broken\n", encoding="utf-8")

    stats = load(warehouse, path, mrr_to_arr=10)

    assert accounts(warehouse) == {
        "318": ("318", "enterprise", "enterprise", 25_005.0, "mrr", None, "run-1"),
        "cust-4": ("Four Ltd", None, None, 10.0, "arr", None, "run-1")}
    rejected = rejections(warehouse)
    assert set(rejected) == {"accounts.jsonl:2", "accounts.jsonl:3", "accounts.jsonl:5"}
    assert "malformed JSON" in rejected["accounts.jsonl:5"]
    assert stats["rejected"] == 3


def test_reload_replaces_the_accounts_and_a_rerun_keeps_rejections_once(warehouse, tmp_path):
    path = tmp_path / "accounts.csv"
    path.write_text("customer,arr\nacme,100\nglobex,200\n,5\n", encoding="utf-8")
    load(warehouse, path, run_id="run-1")
    load(warehouse, path, run_id="run-1")  # the same night again
    assert len(rejections(warehouse)) == 1
    path.write_text("customer,arr\nglobex,300\n", encoding="utf-8")

    load(warehouse, path, run_id="run-2")

    assert accounts(warehouse) == {"globex": ("globex", None, None, 300.0, "arr", None, "run-2")}
    assert warehouse.execute("SELECT run_id, loaded FROM account_loads ORDER BY run_id"
                             ).fetchall() == [("run-1", 2), ("run-2", 1)]


def test_an_unreadable_file_keeps_last_nights_accounts(warehouse, tmp_path):
    path = tmp_path / "accounts.csv"
    path.write_text("customer,arr\nacme,100\n", encoding="utf-8")
    load(warehouse, path)
    path.unlink()

    stats = load(warehouse, path, run_id="run-2")

    assert "cannot read the accounts file" in stats["error"]
    assert set(accounts(warehouse)) == {"acme"}


def test_no_path_empties_the_table(warehouse, tmp_path):
    path = tmp_path / "accounts.csv"
    path.write_text("customer,arr\nacme,100\n", encoding="utf-8")
    load(warehouse, path)
    assert load_accounts(warehouse, AccountsConfig(), run_id="run-2", salt=SALT) == \
        {"loaded": 0, "rejected": 0}
    assert accounts(warehouse) == {}


@pytest.mark.parametrize(("customer", "name", "shown"), [
    ("cust-0318", None, "cust-0318"),
    ("cust-0318", "Acme Corp", "Acme Corp"),
    ("ceo@acme.com", None, None),  # an e-mail id: a pseudonym
    ("cust-1", "billing@acme.com", "cust-1"),  # an e-mail as name: the id instead
    ("billing@acme.com", "jane@acme.com", None),
])
def test_labels_are_names_ids_or_pseudonyms_never_emails(customer, name, shown):
    label = account_label(customer, name, SALT)
    assert "@" not in label
    if shown is None:
        assert label.startswith("acct_") and label == account_label(customer, None, SALT)
        assert label != account_label(customer, None, "other-salt")
    else:
        assert label == shown


def test_email_ids_are_stored_with_a_pseudonym_label(warehouse, tmp_path):
    path = tmp_path / "accounts.csv"
    path.write_text("customer,arr\nceo@acme.com,100\n", encoding="utf-8")
    load(warehouse, path)
    ((label,),) = warehouse.execute("SELECT label FROM accounts").fetchall()
    assert label.startswith("acct_")


def test_config_resolves_the_path_against_the_config_file(tmp_path):
    from feedback_pipeline.config import load_settings

    (tmp_path / "fp.toml").write_text('[accounts]\npath = "crm/accounts.csv"\nmrr_to_arr = 12\n')
    settings = load_settings(tmp_path / "fp.toml")
    assert settings.accounts.path == (tmp_path / "crm" / "accounts.csv").resolve()
    with pytest.raises(Exception, match="accounts"):
        (tmp_path / "bad.toml").write_text('[accounts]\nmrr_to_arr = 0\n')
        load_settings(tmp_path / "bad.toml")


def test_the_nightly_ingest_loads_accounts_and_a_missing_file_fails_like_a_source(
        warehouse, tmp_path, write_jsonl, make_record):
    from datetime import UTC, datetime

    from feedback_pipeline.config import Settings
    from feedback_pipeline.ingest.config import FileSourceConfig
    from feedback_pipeline.pipeline import stage_ingest
    from feedback_pipeline.warehouse.runs import Run

    data = write_jsonl("desk.jsonl", [make_record(source="", external_id="1", customer="acme")])
    accounts_file = tmp_path / "accounts.csv"
    accounts_file.write_text("customer,arr\nacme,100\n,5\n", encoding="utf-8")
    settings = Settings(sources=[FileSourceConfig(name="desk", path=data)],
                        accounts=AccountsConfig(path=accounts_file))
    as_of = datetime(2026, 11, 20, tzinfo=UTC)

    stats = stage_ingest(Run(warehouse, "run-1", as_of), settings)

    assert stats["accounts"] == {"loaded": 1, "rejected": 1} and not stats["errors"]
    assert stats["stored"] == 1  # the items' own reconciliation is untouched
    accounts_file.unlink()
    stats = stage_ingest(Run(warehouse, "run-2", as_of), settings)
    assert "cannot read the accounts file" in stats["errors"]["accounts"]
    assert stats["failed_sources"] == ["accounts"]
    # where the flow looks for a failed source's error
    assert stats["by_source"]["accounts"]["error"] == stats["errors"]["accounts"]
    assert set(accounts(warehouse)) == {"acme"}  # last night's, kept


def test_without_accounts_settings_a_custom_setup_has_none():
    from feedback_pipeline.config import Settings
    from feedback_pipeline.ingest.config import FileSourceConfig

    assert Settings(sources=[FileSourceConfig(name="x", path="x.jsonl")]).accounts.path is None
    assert Settings().accounts.path is not None  # the demo's, with the demo's sources
