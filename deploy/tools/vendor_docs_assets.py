"""Vendor the API docs' browser assets into gateway/static/docs (``make docs-assets``).

The gateway serves Swagger UI and ReDoc itself, so ``/docs`` and ``/redoc`` work with no network
(no CDN). The files come from the npm packages ``swagger-ui-dist`` and ``redoc`` (``npm pack``,
the registry's own tarballs), with their licences; ``manifest.json`` records each package's
version and each file's sha256, and tests/gateway/test_docs.py checks the files against it.

Usage: python deploy/tools/vendor_docs_assets.py [--swagger-ui VERSION] [--redoc VERSION]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEST = ROOT / "gateway" / "static" / "docs"

FILES = {
    "swagger-ui-dist": {
        "swagger-ui-bundle.js": "swagger-ui-bundle.js",
        "swagger-ui.css": "swagger-ui.css",
        "favicon-32x32.png": "favicon-32x32.png",
        "LICENSE": "LICENSE.swagger-ui-dist",
        "NOTICE": "NOTICE.swagger-ui-dist",
    },
    "redoc": {
        "bundles/redoc.standalone.js": "redoc.standalone.js",
        "bundles/redoc.standalone.js.LICENSE.txt": "redoc.standalone.js.LICENSE.txt",
        "LICENSE": "LICENSE.redoc",
    },
}
"""Per npm package: the file inside it, and its name here."""


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def vendor(versions: dict[str, str]) -> dict[str, object]:
    """Fetch each package with ``npm pack`` and copy its files; returns the manifest."""
    DEST.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for package, files in FILES.items():
            spec = f"{package}@{versions[package]}"
            out = subprocess.run(
                ["npm", "pack", spec, "--json"],
                cwd=tmp,
                check=True,
                capture_output=True,
                text=True,
                timeout=300,
            )
            info = json.loads(out.stdout)[0]
            with tarfile.open(Path(tmp) / info["filename"]) as tar:
                tar.extractall(Path(tmp) / package, filter="data")
            for inner, name in files.items():
                shutil.copyfile(Path(tmp) / package / "package" / inner, DEST / name)
            manifest[package] = {
                "version": info["version"],
                "license": json.loads(
                    (Path(tmp) / package / "package" / "package.json").read_text()
                )["license"],
                "integrity": info["integrity"],
                "files": {name: sha256(DEST / name) for name in files.values()},
            }
    (DEST / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--swagger-ui", default="5.35.0")
    parser.add_argument("--redoc", default="2.5.4")
    args = parser.parse_args()
    manifest = vendor({"swagger-ui-dist": args.swagger_ui, "redoc": args.redoc})
    for package, entry in manifest.items():
        print(f"{package} {entry['version']}")  # type: ignore[index]


if __name__ == "__main__":
    main()
