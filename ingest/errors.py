"""Errors a data engineer can act on: each names the source, the file and the column or row."""

from __future__ import annotations

from warehouse.errors import CdpError


class IngestError(CdpError):
    """Base of every ingestion failure."""


class UnknownSourceError(IngestError):
    """`--source NAME` that cdp.yaml does not define."""


class FileFailed(IngestError):
    """One file cannot be loaded at all (empty, missing sheet, removed column...): the file is kept
    for the next run and the manifest says why."""


class SourceFailed(IngestError):
    """At least one file or entity of a source failed; the rest of the source still landed."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        lines = "\n  - ".join(problems)
        super().__init__(f"source {source!r} failed:\n  - {lines}")
