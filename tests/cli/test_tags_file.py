"""Tag files for ``orchestrator tags apply``: the three layouts, and one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.cli.tags import load_tags

ONE = "tag: acme\nkind: company\npayload: {content: Hi}\n"
TWO = "tag: ops\nkind: role\npayload: {config: {assigned_roles: [operator]}}\n"


LIST = """\
- tag: acme
  kind: company
  payload: {content: Hi}
- tag: ops
  kind: role
  payload: {config: {assigned_roles: [operator]}}
"""
TAGS_KEY = "tags:\n" + "".join(f"  {line}\n" for line in LIST.splitlines())


@pytest.mark.parametrize(
    "text", [LIST, TAGS_KEY, f"{ONE}---\n{TWO}"], ids=["list", "tags-key", "documents"]
)
def test_each_layout_gives_the_same_tags(tmp_path: Path, text: str) -> None:
    path = tmp_path / "tags.yaml"
    path.write_text(text)

    tags = load_tags(path)

    assert [(t["tag"], t["kind"]) for t in tags] == [("acme", "company"), ("ops", "role")]
    assert tags[0]["payload"]["content"] == "Hi"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "- tag: x\n  kind: role\n  payload: {config: {allowed_tools: [nope]}}\n",
            "tag #1 (x): payload.config.allowed_tools.0:",
        ),
        (f"{ONE}---\n{ONE}", "appears twice"),
        ("- [unclosed\n", "is not valid YAML"),
        ("just a string\n", "expected a list of tags"),
        ("- tag: y\n", "tag #1 (y): kind:"),
    ],
)
def test_a_bad_file_is_one_line_naming_what_is_wrong(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "tags.yaml"
    path.write_text(text)

    with pytest.raises(ValueError) as caught:
        load_tags(path)

    assert expected in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_missing_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot read"):
        load_tags(tmp_path / "absent.yaml")
