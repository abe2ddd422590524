"""The vendored htmx files are the ones the manifest names, with licences, shipped in the wheel."""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from pathlib import Path

from gateway.ui.render import STATIC, TEMPLATES

VENDOR = STATIC / "vendor"
ROOT = Path(__file__).resolve().parents[3]


def test_every_vendored_file_matches_its_manifest_hash_and_has_a_licence() -> None:
    manifest = json.loads((VENDOR / "MANIFEST.json").read_text())
    listed: dict[str, str] = {}
    versions = {}
    for package in manifest["packages"]:
        versions[package["name"]] = package["version"]
        listed.update(package["files"])
        folder = {p.split("/")[0] for p in package["files"]}
        assert all((VENDOR / f / "LICENSE").is_file() for f in folder)
    assert re.fullmatch(r"2\.0\.\d+", versions["htmx.org"])
    assert re.fullmatch(r"2\.2\.\d+", versions["htmx-ext-sse"])
    present = {
        str(p.relative_to(VENDOR))
        for p in VENDOR.rglob("*")
        if p.is_file() and p.name != "MANIFEST.json"
    }
    assert present == set(listed)
    for name, digest in listed.items():
        assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == digest, name


def test_pages_load_the_vendored_scripts_only() -> None:
    base = (TEMPLATES / "base.html").read_text()
    scripts = re.findall(r'<script src="([^"]+)"', base)
    assert scripts == [
        "/ui/static/vendor/htmx/htmx.min.js",
        "/ui/static/vendor/htmx-ext-sse/sse.js",
    ]


def test_the_wheel_ships_the_templates_and_static_files() -> None:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = data["tool"]["setuptools"]["package-data"]["gateway.ui"]
    ui = TEMPLATES.parent
    shipped = {p for pattern in patterns for p in ui.glob(pattern) if p.is_file()}
    wanted = {p for p in (*TEMPLATES.rglob("*"), *STATIC.rglob("*")) if p.is_file()}
    assert wanted - shipped == set()
