"""The deployment files people ship: prefect.yaml, prefect.toml and the Dockerfile.

No Docker daemon here, so the image is not built: its steps are checked against the project
(every file it copies exists, the torch pin and Python version are the project's, the Dask extra
is installed with the constraints) and prefect.yaml's entrypoint is imported as Prefect imports it.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

from feedback_pipeline_flows.deploy import ENTRYPOINT, RUN_ENV

ROOT = Path(__file__).resolve().parents[2]


def _strings(node: object) -> list[str]:
    if isinstance(node, dict):
        return [s for v in node.values() for s in _strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in _strings(v)]
    return [node] if isinstance(node, str) else []


def test_prefect_yaml_deploys_the_flow_by_module_with_shipped_config_and_no_host_paths():
    from prefect.flows import load_flow_from_entrypoint

    spec = yaml.safe_load((ROOT / "prefect.yaml").read_text(encoding="utf-8"))
    (deployment,) = spec["deployments"]
    assert deployment["entrypoint"] == ENTRYPOINT
    assert load_flow_from_entrypoint(ENTRYPOINT).name == "nightly-feedback"
    config = deployment["parameters"]["config_path"]
    assert not Path(config).is_absolute() and (ROOT / config).is_file()
    assert not [s for s in _strings(spec) if s.startswith(("/", "~")) or re.match(r"[A-Z]:\\", s)]
    assert deployment["concurrency_limit"]["limit"] == 1
    assert deployment["work_pool"]["job_variables"]["env"] == RUN_ENV
    steps = [next(iter(step)) for step in spec["pull"]]
    assert steps == ["prefect.deployments.steps.git_clone",
                     "prefect.deployments.steps.set_working_directory"]


def test_the_shipped_config_loads_and_names_a_notification_block():
    from feedback_pipeline.config import load_settings

    settings = load_settings(ROOT / "deploy" / "nightly.toml")
    assert settings.alerts.notify_block.count("/") == 1
    assert settings.alerts.running_longer_than_minutes < settings.schedule.timeout_minutes
    assert all(Path(s.path).exists() for s in settings.sources)


def test_prefect_toml_makes_the_library_logger_a_prefect_extra_logger():
    settings = tomllib.loads((ROOT / "prefect.toml").read_text(encoding="utf-8"))
    assert settings["logging"]["extra_loggers"] == RUN_ENV["PREFECT_LOGGING_EXTRA_LOGGERS"]


def _dockerfile() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    logical = re.sub(r"\\\n", " ", text)
    return [tuple(line.strip().split(None, 1)) for line in logical.splitlines()
            if line.strip() and not line.strip().startswith("#")]


def test_the_dockerfile_builds_from_the_project_with_its_pins():
    steps = _dockerfile()
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    python = re.search(r">=(\d+\.\d+)", pyproject["project"]["requires-python"]).group(1)
    assert steps[0] == ("FROM", f"python:{python}-slim")

    for instruction, args in steps:
        if instruction == "COPY":
            *sources, _dest = args.split()
            missing = [s for s in sources if not (ROOT / s).exists()]
            assert not missing, f"the Dockerfile copies files that do not exist: {missing}"
    runs = " ".join(args for instruction, args in steps if instruction == "RUN")
    torch = re.search(r"^torch==(\S+)$", (ROOT / "constraints.txt").read_text(), re.M).group(1)
    assert f"torch=={torch}" in runs
    # The Dask workers run from this image: the dask extra, and onnx for embed.backend onnx*.
    assert "pip install -c constraints.txt '.[dask,onnx]'" in runs
    env = " ".join(args for instruction, args in steps if instruction == "ENV")
    for name, value in RUN_ENV.items():
        assert f"{name}={value}" in env
    # Every file the package needs at run time is copied before it is installed.
    copied = {s for instruction, args in steps if instruction == "COPY" for s in args.split()[:-1]}
    assert {"pyproject.toml", "constraints.txt", "src", "flows", "warehouse"} <= copied
