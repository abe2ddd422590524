"""The SDK's tests share the CLI tests' real gateway and worker processes."""

from tests.cli.conftest import live_stack

__all__ = ["live_stack"]
