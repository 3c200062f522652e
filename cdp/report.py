"""Printing run summaries for people: what ran, what landed, where the outputs are."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table


def print_summary(summary: dict[str, Any], console: Console | None = None) -> None:
    console = console or Console()
    stages = summary.get("stages") or []
    if stages:
        table = Table(title=f"Pipeline run {summary.get('batch_id', '')}")
        table.add_column("stage")
        table.add_column("status")
        table.add_column("details")
        for stage in stages:
            label = _label(stage)
            details = {
                k: v for k, v in stage.items() if k not in {"stage", "source", "layer", "status", "batch_id"}
            }
            table.add_row(escape(label), escape(str(stage.get("status", "ok"))), escape(_compact(details)))
        console.print(table)
        _print_findings(stages, console)
    for key in ("layers", "customers"):
        if summary.get(key) is not None:
            console.print(f"[bold]{key}[/bold]: {escape(_compact(summary[key]))}")
    if summary.get("quality") is not None:
        console.print(f"[bold]quality[/bold]: {escape(quality_line(summary['quality']))}")
    for key in ("data_root", "marts", "duckdb", "dbt_docs", "quality_docs"):
        if summary.get(key):
            console.print(f"[bold]{key}[/bold]: {escape(str(summary[key]))}")
    for failed in summary.get("failed_files") or []:
        where = escape(f"{failed['file']}: {failed['message']}")
        console.print(f"[bold red]failed to load[/bold red]: {where}")


def _print_findings(stages: list[dict[str, Any]], console: Console) -> None:
    """Each warning and critical failure of a stage on its own line: the table cuts them at 300 characters.

    Warnings do not stop a run (a quality gate's failed warning rules, an ingest source's missing
    landing folder), so this is where a person sees them in full (for a gate: suite, rule, source, sample).
    """
    for stage in stages:
        label = _label(stage)
        for key, colour, word in (("critical", "bold red", "critical"), ("warnings", "yellow", "warning")):
            for line in stage.get(key) or []:
                console.print(f"[{colour}]{escape(label)} {word}[/{colour}]: {escape(str(line))}")
        listed = len(stage.get("critical") or []) + len(stage.get("warnings") or [])
        failed = (stage.get("failed_critical") or 0) + (stage.get("failed_warnings") or 0)
        if failed > listed:
            console.print(
                f"{escape(label)}: {failed - listed} more in lake/quality/dq_results and the data docs"
            )


def _label(stage: dict[str, Any]) -> str:
    label = stage.get("stage", "?") + (f" {stage['source']}" if stage.get("source") else "")
    return label + (f" ({stage['layer']})" if stage.get("layer") else "")


def _compact(value: Any) -> str:
    text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) < 300 else text[:297] + "..."


def quality_line(quality: dict[str, Any]) -> str:
    """The run's quality score per scope, each saying what it covers.

    A daily gate scores the day's changed rows and whole tables apart (`dq_results.scope`); one
    pooled figure would read a day's increment as the score of the whole layer, or hide it.
    Summaries written before `by_scope` existed print their pooled score as it was.
    """
    by_scope = quality.get("by_scope")
    failed = f"{quality.get('failed_expectations', 0)} failed expectation(s)"
    if not by_scope:
        return f"run {quality.get('run_id')}: score {quality.get('score')}; {failed}"
    parts = [
        f"{figures.get('covers', scope)} {figures['score']} "
        f"({figures['passed_rows']:,} of {figures['checked_rows']:,} rows passed)"
        for scope, figures in by_scope.items()
    ]
    return f"run {quality.get('run_id')}: " + "; ".join(parts) + f"; {failed}"
