"""Installed from a wheel, the tool works as it does from a checkout.

The wheel is built from this checkout (hatchling, no build isolation: nothing is fetched) and
installed with ``--no-deps`` into a fresh virtualenv. Its dependencies come from the test
interpreter's own site-packages through a plain ``.pth`` line, which adds that folder to
``sys.path`` without running the ``.pth`` files in it: the editable install's path to this
checkout's ``src/`` does not leak in, so only the wheel's code can be imported.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "demo" / "feedback_demo.jsonl"


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900, **kwargs)
    assert done.returncode == 0, (f"{cmd} exited {done.returncode}\nstdout:\n{done.stdout[-3000:]}"
                                  f"\nstderr:\n{done.stderr[-5000:]}")
    return done


# What the build reads: the project's files, as a checkout holds them.
BUILD_INPUTS = ["pyproject.toml", "README.md", "hatch_build.py", "src", "flows", "warehouse",
                "demo"]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built from a copy of the checkout that also holds what a used checkout has
    lying around (a warehouse DuckDB file, bytecode), which must not ship."""
    tree = tmp_path_factory.mktemp("checkout")
    for name in BUILD_INPUTS:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, tree / name, symlinks=True,
                            ignore=shutil.ignore_patterns("__pycache__", "*.duckdb*"))
        else:
            shutil.copy2(source, tree / name)
    (tree / "warehouse" / "feedback.duckdb").write_bytes(b"a local warehouse")
    (tree / "flows" / "__pycache__").mkdir()
    (tree / "flows" / "__pycache__" / "nightly.cpython-311.pyc").write_bytes(b"bytecode")
    out = tmp_path_factory.mktemp("wheel")
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
         "--wheel-dir", str(out), str(tree)])
    (built,) = out.glob("feedback_pipeline-*.whl")
    return built


def test_wheel_ships_code_sql_and_demo_data_and_nothing_else(wheel: Path):
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert top == {"feedback_pipeline", "feedback_pipeline_flows"}
    flows = {n.split("/")[1] for n in names if n.startswith("feedback_pipeline_flows/")}
    assert flows == {p.name for p in (ROOT / "flows").glob("*.py")}
    sql = {n.split("/")[-1] for n in names if n.startswith("feedback_pipeline/_warehouse_sql/")}
    assert sql == {p.name for p in (ROOT / "warehouse").glob("*.sql")}
    assert "feedback_pipeline/_demo/feedback_demo.jsonl" in names
    assert "feedback_pipeline/_demo/accounts_demo.csv" in names  # the demo's accounts
    assert not [n for n in names if n.endswith((".duckdb", ".wal", ".pyc"))]


def venv_with_wheel(folder: Path, wheel: Path) -> Path:
    """A fresh virtualenv holding the wheel; the test interpreter's packages provide the rest."""
    run([sys.executable, "-m", "venv", "--without-pip", str(folder)])
    python = folder / "bin" / "python"
    purelib = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = Path(run([str(python), "-c", purelib]).stdout.strip())
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site / "_test_dependencies.pth").write_text("\n".join(sorted(deps)) + "\n", encoding="utf-8")
    run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--quiet",
         str(wheel)])
    return python


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in folder.rglob("*") if p.is_file()}


@pytest.mark.slow
def test_a_night_from_the_wheel_writes_beside_its_config_and_nothing_in_the_venv(
        tmp_path: Path, wheel: Path):
    venv = tmp_path / "venv"
    python = venv_with_wheel(venv, wheel)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(PREFECT_HOME=str(tmp_path / "prefect-home"), HF_HUB_OFFLINE="1",
               PREFECT_SERVER_ANALYTICS_ENABLED="false")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    where = json.loads(run([str(python), "-c", (
        "import json, importlib.util as u, feedback_pipeline, feedback_pipeline_flows;"
        "from feedback_pipeline.paths import CHECKOUT_ROOT, sql_dir, demo_data;"
        "print(json.dumps({'pkg': feedback_pipeline.__file__, "
        "'flows': feedback_pipeline_flows.__file__, 'generic': u.find_spec('flows') is not None, "
        "'checkout': str(CHECKOUT_ROOT), 'sql': str(sql_dir()), 'demo': str(demo_data())}))")],
        cwd=elsewhere, env=env).stdout)
    assert Path(where["pkg"]).is_relative_to(venv), where
    assert Path(where["flows"]).is_relative_to(venv), where
    assert not where["generic"], "a top-level `flows` package is importable"
    assert where["checkout"] == "None"
    assert Path(where["sql"]).is_relative_to(venv) and Path(where["demo"]).is_relative_to(venv)

    # The config's folder holds a small file source; warehouse and outbox are left to defaults.
    config_dir = tmp_path / "cfg"
    config_dir.mkdir()
    lines = DEMO.read_text(encoding="utf-8").splitlines()
    (config_dir / "posts.jsonl").write_text("\n".join(lines[:150]) + "\n", encoding="utf-8")
    config = config_dir / "fp.toml"
    config.write_text('[[sources]]\ntype = "file"\nname = "posts"\npath = "posts.jsonl"\n\n'
                      '[rank]\nas_of = "latest"\n\n[deliver]\ndry_run = true\n', encoding="utf-8")

    before = snapshot(venv)
    night = run([str(venv / "bin" / "feedback-pipeline"), "run", "--config", str(config)],
                cwd=elsewhere, env=env)
    assert snapshot(venv) == before, "the run wrote inside the virtualenv"
    assert "150 fetched (150 new" in night.stdout, night.stdout
    assert (config_dir / "warehouse" / "feedback.duckdb").is_file()
    assert list((config_dir / "outbox" / "slack").glob("digest-*.json"))
    assert list((config_dir / "outbox" / "jira").glob("*.json"))
    assert not list(elsewhere.iterdir()), "the run wrote into the working directory"

    status = run([str(venv / "bin" / "feedback-pipeline"), "status", "--config", str(config),
                  "--format", "json"], cwd=elsewhere, env=env)
    assert json.loads(status.stdout)["runs"][0]["status"] == "completed", status.stdout


@pytest.mark.slow
def test_without_a_config_the_wheel_reads_its_demo_data_and_writes_in_the_working_directory(
        tmp_path: Path, wheel: Path):
    python = venv_with_wheel(tmp_path / "venv", wheel)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    work = tmp_path / "work"
    work.mkdir()
    out = json.loads(run([str(python), "-c", (
        "import json; from feedback_pipeline.config import load_settings; s = load_settings();"
        "from feedback_pipeline.warehouse.db import schema_files;"
        "print(json.dumps({'wh': str(s.warehouse), 'outbox': str(s.deliver.outbox),"
        "'demo': str(s.sources[0].path), 'accounts': str(s.accounts.path),"
        "'schemas': schema_files()}))")],
        cwd=work, env=env).stdout)
    assert out["wh"] == str(work.resolve() / "warehouse" / "feedback.duckdb")
    assert out["outbox"] == str(work.resolve() / "outbox")
    assert Path(out["demo"]).is_file() and Path(out["demo"]).is_relative_to(tmp_path / "venv")
    assert Path(out["accounts"]).is_file() and Path(out["accounts"]).parent == \
        Path(out["demo"]).parent
    assert out["schemas"] == ["schema.sql", *sorted(p.name for p in
                                                    (ROOT / "warehouse").glob("schema_*.sql"))]


def test_the_flows_are_imported_by_their_package_name_only():
    """``flows`` is a folder of the repository, not a package name: imported as ``flows`` it would
    work from a checkout (the working directory is on sys.path) and fail from the wheel."""
    import ast

    generic = []
    for folder in ("src", "flows", "tests", "bench", "demo"):
        for path in (ROOT / folder).rglob("*.py"):
            if "feedback_pipeline_flows" in path.parts:  # the link to flows/, read once
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                         [node.module] if isinstance(node, ast.ImportFrom) and node.module
                         and not node.level else [])
                generic += [f"{path.relative_to(ROOT)}:{node.lineno}" for n in names
                            if n.split(".")[0] == "flows"]
    assert not generic, f"import feedback_pipeline_flows instead of flows: {generic}"
