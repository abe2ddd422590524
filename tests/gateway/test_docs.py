"""``/docs`` and ``/redoc`` load with no network: every URL in the pages is the gateway's own,
and the vendored assets are the npm packages' files named in the manifest."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable

import httpx

from gateway.docs import ASSETS
from orchestrator.config import Settings
from tests.gateway import flows
from tests.support.stack import in_process_stack

URL = re.compile(r"""(?:src|href|url)\s*[=:(]\s*['"]?([^'" )>]+)""")


def test_the_vendored_assets_match_their_manifest_and_carry_their_licences() -> None:
    manifest = json.loads((ASSETS / "manifest.json").read_text())

    assert set(manifest) == {"swagger-ui-dist", "redoc"}
    for package in manifest.values():
        assert package["version"] and package["license"] in ("Apache-2.0", "MIT")
        assert any(name.startswith("LICENSE") for name in package["files"])
        for name, digest in package["files"].items():
            assert hashlib.sha256((ASSETS / name).read_bytes()).hexdigest() == digest, name


async def test_docs_and_redoc_load_without_credentials_and_without_external_urls(
    isolated_settings: Callable[..., Settings],
) -> None:
    async with in_process_stack(isolated_settings(), flows.registry(), with_worker=False) as stack:
        anonymous = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=stack.app), base_url="http://gateway"
        )
        pages = {path: await anonymous.get(path) for path in ("/docs", "/redoc")}
        urls = {path: URL.findall(page.text) for path, page in pages.items()}
        assets = {
            u: (await anonymous.get(u)).status_code
            for found in urls.values()
            for u in found
            if u.startswith("/docs/assets/")
        }
        await anonymous.aclose()

    for path, page in pages.items():
        assert page.status_code == 200, path
        assert "http://" not in page.text and "https://" not in page.text, path
        assert urls[path], path
    assert (
        "/openapi.json" in urls["/docs"] + urls["/redoc"] or "/openapi.json" in pages["/docs"].text
    )
    assert assets and set(assets.values()) == {200}
