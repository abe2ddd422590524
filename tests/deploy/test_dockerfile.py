"""The image, without a Docker engine: the Dockerfile parsed by the official parser (the
``dockerfile`` package wraps BuildKit's Go parser), the build context computed with Docker's own
``.dockerignore`` rules (``docker.utils.build.exclude_paths``), and the build stage's ``COPY``
and ``RUN`` steps run for real into a clean virtual environment under a temporary root."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import dockerfile
import pytest
from docker.utils.build import exclude_paths

from tests.deploy.chart import ROOT

DOCKERFILE = ROOT / "Dockerfile"
ABSOLUTE = re.compile(r"(?<![\w$}/])/[\w.-]+(?:/[\w.-]+)*")
VARIABLE = re.compile(r"\$(?:\{(\w+)(?::\+([^}]*))?\}|(\w+))")
BUILD_TIMEOUT_SECONDS = 300


def stages() -> dict[str, list[dockerfile.Command]]:
    """The Dockerfile's instructions by stage name (``FROM … AS name``), in order."""
    found: dict[str, list[dockerfile.Command]] = {}
    current: list[dockerfile.Command] = []
    for command in dockerfile.parse_file(str(DOCKERFILE)):
        if command.cmd == "FROM":
            current = []
            found[command.value[-1] if len(command.value) == 3 else str(len(found))] = current
        current.append(command)
    return found


def context_files() -> set[str]:
    """What ``docker build .`` sends, by Docker's ``.dockerignore`` rules."""
    patterns = (ROOT / ".dockerignore").read_text().splitlines()
    patterns = [p.strip() for p in patterns if p.strip() and not p.startswith("#")]
    return {f for f in exclude_paths(str(ROOT), patterns) if (ROOT / f).is_file()}


def expand(value: str, env: dict[str, str]) -> str:
    """Docker's ``$VAR``, ``${VAR}`` and ``${VAR:+word}`` substitution."""
    def one(match: re.Match[str]) -> str:
        name = match[1] or match[3]
        if match[2] is not None:
            return expand(match[2], env) if env.get(name) else ""
        return env.get(name, "")
    return VARIABLE.sub(one, value)


def test_the_image_is_multi_stage_small_and_runs_as_a_non_root_user() -> None:
    found = stages()
    assert list(found) == ["build", "runtime"]
    runtime = found["runtime"]
    assert runtime[0].value[0] == "${PYTHON_IMAGE}"
    base = next(c for c in dockerfile.parse_file(str(DOCKERFILE)) if c.cmd == "ARG")
    assert base.value[0].endswith("-slim-bookworm")
    (user,) = [c for c in runtime if c.cmd == "USER"]
    uid = user.value[0].split(":")[0]
    assert uid.isdigit() and int(uid) != 0  # numeric, so runAsNonRoot can verify it
    copies = [c for c in runtime if c.cmd == "COPY"]
    assert [c.flags for c in copies] == [("--from=build",)]  # nothing from the context
    (entrypoint,) = [c for c in runtime if c.cmd == "ENTRYPOINT"]
    assert entrypoint.json and entrypoint.value == ("orchestrator",)
    env = dict(zip(*[iter(next(c for c in runtime if c.cmd == "ENV").value)] * 2, strict=True))
    assert env["PYTHONPATH"] == "/app/workflows"  # where workflow code is added
    assert env["ORCH_WORKFLOWS"] == "examples.hello"


def test_the_build_context_holds_what_the_build_copies_and_nothing_else() -> None:
    sent = context_files()
    for command in stages()["build"]:
        if command.cmd == "COPY" and not command.flags:
            for source in command.value[:-1]:
                assert any(f == source or f.startswith(source + "/") for f in sent), source
    assert not [f for f in sent if f.split("/")[0] in {".venv", ".git", "tests", ".tools", "deploy"}]
    assert not [f for f in sent if "__pycache__" in f or f.endswith(".pyc")]


@pytest.mark.timeout(BUILD_TIMEOUT_SECONDS + 60)
def test_the_build_steps_install_a_working_orchestrator_into_a_clean_venv(tmp_path: Path) -> None:
    root = tmp_path / "image"  # the image's "/"
    base_bin = tmp_path / "base-bin"  # the base image's python
    base_bin.mkdir()
    (base_bin / "python").symlink_to(getattr(sys, "_base_executable", sys.executable))
    # The machine's own pip set-up (index, certificates, proxies, cache) stands in for the
    # network of a docker build; nothing else of the host's environment is passed on.
    host_env = {k: v for k, v in os.environ.items()
                if k.startswith("PIP_") or k.lower().endswith("_proxy") or k == "HOME"}
    env = {**host_env, "PATH": f"{base_bin}:/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
    sent = context_files()
    workdir = root

    def host(path: str) -> Path:
        return root / path.lstrip("/")

    for command in stages()["build"][1:]:
        if command.cmd == "ENV":
            for name, value in zip(*[iter(command.value)] * 2, strict=True):
                env[name] = expand(ABSOLUTE.sub(lambda m: str(host(m[0])), value), env)
        elif command.cmd == "ARG":
            name, _, default = command.value[0].partition("=")
            env.setdefault(name, default)
        elif command.cmd == "WORKDIR":
            workdir = host(command.value[0])
            workdir.mkdir(parents=True, exist_ok=True)
        elif command.cmd == "COPY":
            *sources, dest = command.value
            target = workdir / dest
            for source in sources:
                files = [f for f in sent if f == source or f.startswith(source + "/")]
                assert files, f"COPY {source}: not in the build context"
                for name in files:
                    relative = Path(name).relative_to(source) if name != source else Path(name)
                    out = (target / relative) if name != source or dest.endswith("/") else target
                    out.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(ROOT / name, out)
        elif command.cmd == "RUN":
            script = command.value[0]
            assert not ABSOLUTE.search(script), f"RUN uses an absolute path: {script}"
            run_env = {k: v for k, v in env.items() if k != "PIP_NO_CACHE_DIR"}  # reuse pip's cache
            result = subprocess.run(["sh", "-c", script], cwd=workdir, env=run_env,
                                    capture_output=True, text=True, timeout=BUILD_TIMEOUT_SECONDS)
            assert result.returncode == 0, f"RUN {script}\n{result.stdout}\n{result.stderr}"
        else:
            assert command.cmd == "FROM", f"the emulation does not know {command.cmd}"

    venv = Path(env["VIRTUAL_ENV"])
    runtime_copy = next(c for c in stages()["runtime"] if c.cmd == "COPY")
    assert host(runtime_copy.value[0]) == venv and venv.is_dir()

    outside = tmp_path / "elsewhere"  # never the repository: only the installed package counts
    outside.mkdir()
    run_env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path),
               "ORCH_WORKFLOWS": "examples.hello",
               "ORCH_DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path / 'trace.db'}"}

    def run(*args: str) -> str:
        result = subprocess.run(args, cwd=outside, env=run_env, capture_output=True, text=True,
                                timeout=120)
        assert result.returncode == 0, f"{args}\n{result.stdout}\n{result.stderr}"
        return result.stdout

    where = run("python", "-c", "import orchestrator, gateway.app, worker.runner, "
                "orchestrator.k8s.kube, examples.hello; print(orchestrator.__file__)")
    assert where.startswith(str(venv)), where
    assert "worker" in run("orchestrator", "--help")
    assert "migrated to head" in run("orchestrator", "migrate")
    assert "hello" in run("orchestrator", "workflows")
