"""Printing run summaries for people: what ran, what landed, where the outputs are."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
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
            label = stage.get("stage", "?") + (f" {stage['source']}" if stage.get("source") else "")
            label += f" ({stage['layer']})" if stage.get("layer") else ""
            details = {
                k: v for k, v in stage.items() if k not in {"stage", "source", "layer", "status", "batch_id"}
            }
            table.add_row(label, str(stage.get("status", "ok")), _compact(details))
        console.print(table)
    for key in ("layers", "customers", "quality"):
        if summary.get(key) is not None:
            console.print(f"[bold]{key}[/bold]: {_compact(summary[key])}")
    for key in ("data_root", "marts", "duckdb", "dbt_docs", "quality_docs"):
        if summary.get(key):
            console.print(f"[bold]{key}[/bold]: {summary[key]}")
    for failed in summary.get("failed_files") or []:
        console.print(f"[bold red]failed to load[/bold red]: {failed['file']}: {failed['message']}")


def _compact(value: Any) -> str:
    text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) < 300 else text[:297] + "..."
