"""The real nightly Prefect flow with all five connectors against their emulators, run twice."""

from __future__ import annotations

import json
from contextlib import ExitStack
from pathlib import Path

import pytest
from e2e.conftest import demo_subset

from .cases import FACTORIES

pytestmark = pytest.mark.slow


def _toml(value: object) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(value)


def test_nightly_flow_with_all_connectors(prefect_harness, tmp_path: Path, monkeypatch):
    from feedback_pipeline_flows.nightly import nightly

    data = tmp_path / "demo.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in demo_subset()), encoding="utf-8")
    with ExitStack() as stack:
        cases = []
        for name in sorted(FACTORIES):
            emulator_cls, make = FACTORIES[name]
            case = make(stack.enter_context(emulator_cls()))
            monkeypatch.setenv(case.token_env, case.token)
            case.seed()
            cases.append(case)
        blocks = [f'[[sources]]\nname = "demo"\npath = "{data}"\n']
        for case in cases:
            fields = case.config.model_dump(exclude_defaults=True)
            fields["type"] = case.config.type
            blocks.append("[[sources]]\n" + "".join(f"{k} = {_toml(v)}\n"
                                                    for k, v in fields.items()))
        config = tmp_path / "config.toml"
        config.write_text(
            f'warehouse = "{tmp_path / "wh.duckdb"}"\n\n' + "\n".join(blocks)
            + f'\n[deliver]\noutbox = "{tmp_path / "outbox"}"\n',
            encoding="utf-8",
        )

        first = nightly(config_path=str(config))
        by_source = first["ingest"]["by_source"]
        assert first["ingest"]["failed_sources"] == []
        for case in cases:
            assert by_source[case.name]["new"] == case.expected, case.name

        marks = {case.name: case.request_count() for case in cases}
        for case in cases:
            case.edit()
        second = nightly(config_path=str(config))
        by_source = second["ingest"]["by_source"]
        assert second["ingest"]["failed_sources"] == []
        assert by_source["demo"]["fetched"] == 0
        for case in cases:
            assert by_source[case.name]["new"] == 0, case.name
            assert by_source[case.name]["changed"] == 1, case.name
            if case.name == "discourse":  # re-reads its re-scan window by design (see its test)
                continue
            # the delta: fewer requests than the first (full) run
            assert case.request_count() - marks[case.name] < marks[case.name], case.name
