"""Where the files the package reads live, in a source checkout and in an installed wheel alike.

The wheel ships the SQL (``warehouse/*.sql``) as ``feedback_pipeline/_warehouse_sql/`` and the demo
data (``demo/feedback_demo.jsonl``) as ``feedback_pipeline/_demo/`` (``hatch_build.py``); a checkout
reads them from the repository's ``warehouse/`` and ``demo/`` folders. Nothing is ever written here:
the paths the tool writes (warehouse, outbox) are relative to the config file's folder, or to the
working directory without a config (``config.load_settings``).
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def _checkout_root() -> Path | None:
    # A checkout is src/feedback_pipeline under a folder holding our pyproject.toml; an installed
    # package sits in site-packages, whose parents are the virtualenv (never read from there).
    root = PACKAGE_DIR.parents[1]
    if PACKAGE_DIR.parent.name == "src" and (root / "pyproject.toml").is_file():
        return root
    return None


CHECKOUT_ROOT: Path | None = _checkout_root()


def shipped(packaged: str, checkout: str) -> Path | None:
    """``PACKAGE_DIR/packaged`` when installed from a wheel, else ``CHECKOUT_ROOT/checkout``; None
    when neither exists."""
    candidates = [PACKAGE_DIR / packaged]
    if CHECKOUT_ROOT is not None:
        candidates.append(CHECKOUT_ROOT / checkout)
    return next((p for p in candidates if p.exists()), None)


def sql_dir() -> Path | None:
    """The folder of the warehouse SQL (``schema*.sql``, ``rank.sql``, ...)."""
    return shipped("_warehouse_sql", "warehouse")


def demo_data() -> Path | None:
    """The bundled demo data set (JSON lines), the default source without a config."""
    return shipped("_demo/feedback_demo.jsonl", "demo/feedback_demo.jsonl")


def demo_accounts() -> Path | None:
    """The demo's synthetic accounts (CSV, ``demo/build_accounts.py``): the default accounts
    file while the sources are the default demo data."""
    return shipped("_demo/accounts_demo.csv", "demo/accounts_demo.csv")


__all__ = ["CHECKOUT_ROOT", "PACKAGE_DIR", "demo_accounts", "demo_data", "shipped", "sql_dir"]
