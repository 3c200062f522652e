"""State shared by every subcommand: the loaded configuration and output preferences."""

from __future__ import annotations

from dataclasses import dataclass

import click

from warehouse.config import CdpConfig
from warehouse.paths import LakePaths


@dataclass
class CliContext:
    config: CdpConfig
    verbose: int = 0
    quiet: bool = False
    # --data-root as given (on `cdp` or after the subcommand), for commands that load another file.
    data_root: str | None = None

    @property
    def paths(self) -> LakePaths:
        return LakePaths.at(self.config.data_root)


pass_cli = click.make_pass_decorator(CliContext)
