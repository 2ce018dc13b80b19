"""Where the source checkout is (the demo data, ``warehouse/`` SQL, the default outbox)."""

from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]

__all__ = ["PROJECT_ROOT"]
