"""``orchestrator tags``: apply, list and show the tags of a tenant (DESIGN §15), for GitOps.

The commands talk to a running gateway over HTTP (``ORCH_GATEWAY__URL``) with an admin API key
(``ORCH_GATEWAY__API_KEY``), not to the database: the gateway checks the key's role and tenant,
writes each change with its audit row, and invalidates the policy caches of every gateway and
worker. ``apply`` is declarative and idempotent: each tag of the file is PUT, and a tag equal to
the live one makes no new version; ``--prune`` also deletes the tenant's tags the file does not
name. Every file is validated before anything is sent. Errors are one line on stderr.

A file holds tags as a YAML list, as ``tags: [...]``, or as one tag per YAML document::

    - tag: no-deploys
      kind: company
      payload:
        config: {denied_tools: ["deploy/*"]}
        content: "You work for Acme."
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from orchestrator.config import Settings

if TYPE_CHECKING:
    import httpx

app = typer.Typer(help="Apply, list and show tags (through the gateway, as an admin).",
                  no_args_is_help=True)  # fmt: skip

TIMEOUT_SECONDS = 30.0

UrlOpt = Annotated[str | None, typer.Option(help="Gateway URL (ORCH_GATEWAY__URL).")]


def _die(message: str) -> NoReturn:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


def load_tags(path: Path) -> list[dict[str, Any]]:
    """Read and validate the tags of a YAML file.

    Returns:
        Each tag as its canonical JSON.

    Raises:
        ValueError: One line saying which file, tag and field is wrong.
    """
    import yaml

    from orchestrator.errors import TagInvalidError
    from orchestrator.tags.model import parse_tag

    try:
        documents = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"{path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if len(documents) == 1 and isinstance(documents[0], dict) and "tags" in documents[0]:
        documents = documents[0]["tags"]
    elif len(documents) == 1 and isinstance(documents[0], list):
        documents = documents[0]
    if not isinstance(documents, list) or not all(isinstance(d, dict) for d in documents):
        raise ValueError(f"{path}: expected a list of tags, `tags: [...]`, or one tag per document")
    tags: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, item in enumerate(documents):
        name = item.get("tag") if isinstance(item, dict) else None
        label = f"{path}: tag #{i + 1}" + (f" ({name})" if isinstance(name, str) else "")
        try:
            tag = parse_tag(item)
        except TagInvalidError as exc:
            field = exc.details.get("field") or "(the tag)"
            raise ValueError(f"{label}: {field}: {_first_message(exc)}") from None
        if tag.tag in seen:
            raise ValueError(f"{label}: the tag {tag.tag!r} appears twice")
        seen.add(tag.tag)
        tags.append(tag.body())
    return tags


def _first_message(exc: Any) -> str:
    errors = exc.details.get("errors") or [{"message": exc.message}]
    return str(errors[0]["message"])


class _Gateway:
    """The gateway's tag routes, with errors turned into one line."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        import httpx

        try:
            response = self.client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            _die(f"cannot reach the gateway at {self.client.base_url} ({type(exc).__name__}); "
                 "set ORCH_GATEWAY__URL")  # fmt: skip
        if response.status_code >= 400:
            try:
                error = response.json()["error"]
            except (ValueError, KeyError, TypeError):
                _die(f"the gateway answered {response.status_code} to {method} {path}")
            field = (error.get("details") or {}).get("field")
            hint = (
                " (set ORCH_GATEWAY__API_KEY to an admin key)"
                if response.status_code in (401, 403)
                else ""
            )
            _die(f"[{error.get('code')}] {error.get('message')}"
                 + (f" (field: {field})" if field else "") + hint)  # fmt: skip
        return response.json()


def _client(settings: Settings, url: str | None) -> httpx.Client:
    import httpx

    key = settings.gateway.api_key.get_secret_value() if settings.gateway.api_key else None
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.Client(base_url=url or settings.gateway.url, headers=headers,
                        timeout=TIMEOUT_SECONDS)  # fmt: skip


def register(root: typer.Typer, settings: Callable[[], Settings]) -> None:
    """Add the ``tags`` group to ``root`` (``settings`` is the CLI's settings helper)."""

    @app.command()
    def apply(
        file: Annotated[Path, typer.Argument(help="A YAML file of tags.")],
        prune: Annotated[
            bool, typer.Option(help="Also delete the tenant's tags the file does not name.")
        ] = False,
        url: UrlOpt = None,
    ) -> None:
        """Make the tenant's tags match FILE: PUT each (unchanged ones make no version)."""
        try:
            tags = load_tags(file)
        except ValueError as exc:
            _die(str(exc))
        with _client(settings(), url) as client:
            gateway = _Gateway(client)
            for tag in tags:
                result = gateway.call("PUT", f"/v1/tags/{tag['tag']}", json=tag)
                what = (
                    "unchanged"
                    if not result["changed"]
                    else ("created" if result["version"] == 1 else "updated")
                )
                typer.echo(f"{what}\t{tag['tag']}\tv{result['version']}")
            if prune:
                named = {t["tag"] for t in tags}
                for live in gateway.call("GET", "/v1/tags")["items"]:
                    if live["tag"] not in named:
                        gone = gateway.call("DELETE", f"/v1/tags/{live['tag']}")
                        typer.echo(f"deleted\t{live['tag']}\tv{gone['version']}")

    @app.command("list")
    def list_tags(
        kind: Annotated[str | None, typer.Option(help="Only tags of this kind.")] = None,
        url: UrlOpt = None,
    ) -> None:
        """List the tenant's tags, one per line, tab-separated."""
        with _client(settings(), url) as client:
            found = _Gateway(client).call("GET", "/v1/tags",
                                          params={"kind": kind} if kind else None)  # fmt: skip
        lines = ["tag\tkind\tversion\tupdated_at\tupdated_by\ttitle"]
        lines += ["\t".join((t["tag"], t["kind"], str(t["version"]), t["updated_at"],
                            t["updated_by"], t["payload"]["meta"]["title"] or "-"))
                  for t in found["items"]]  # fmt: skip
        sys.stdout.write("\n".join(lines) + "\n")

    @app.command()
    def show(
        tag: Annotated[str, typer.Argument(help="The tag's name.")],
        versions: Annotated[bool, typer.Option(help="Print its history instead.")] = False,
        url: UrlOpt = None,
    ) -> None:
        """Print a tag as YAML (what `apply` takes), or its versions."""
        import yaml

        with _client(settings(), url) as client:
            gateway = _Gateway(client)
            if versions:
                found = gateway.call("GET", f"/v1/tags/{tag}/versions")
                for v in found["items"]:
                    typer.echo(f"v{v['version']}\t{v['action']}\t{v['at']}\t{v['author']}")
                return
            got = gateway.call("GET", f"/v1/tags/{tag}")
        body = {"tag": got["tag"], "kind": got["kind"], "payload": got["payload"]}
        typer.echo(f"# version {got['version']}, {got['updated_at']} by {got['updated_by']}")
        sys.stdout.write(yaml.safe_dump(body, sort_keys=False, allow_unicode=True))

    root.add_typer(app, name="tags")


__all__ = ["load_tags", "register"]
