"""The command-line helpers of tests/cli, for the regressions that drive ``roleredis``."""

from ..cli.conftest import cli

__all__ = ["cli"]
