"""`cdp bench clv`: transaction summary, BG/NBD + Gamma-Gamma fits and predictions at scale.

Transactions are drawn from the BG/NBD and Gamma-Gamma processes themselves (analytics.clv.simulate),
so besides time and memory the benchmark checks that the fits recover the parameters the data was
generated with. The truth below is a retailer whose customers buy about every two months while
active, over up to five years: about 9.5 purchases per customer, so 1M customers ~ 9.5M rows.
Some deviation is expected and not an error: purchases are cut to calendar days and several on one
day merge into one (the contract's definition), which slightly lowers the observed rate.
"""

from __future__ import annotations

import gc
import tempfile
from datetime import date
from pathlib import Path

import click

from bench.measure import Measurement, markdown_table, measure, save_results, update_results_md

# The truth the transactions are drawn from (plain dicts: the CLI imports this module at start-up,
# the modelling stack only when the benchmark runs).
TRUE_BGNBD = {"r": 2.0, "alpha": 120.0, "a": 1.2, "b": 15.0}  # rates per day
TRUE_GAMMA_GAMMA = {"p": 6.0, "q": 4.0, "v": 150.0}  # mean spend p v / (q - 1) = 300
OBSERVATION_END = date(2026, 10, 31)
MAX_TENURE_DAYS = 5 * 365
TIME_UNIT = "day"


@click.command("clv")
@click.option("--customers", type=click.IntRange(min=1000), default=1_000_000, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option(
    "--workdir",
    type=click.Path(file_okay=False),
    default=None,
    help="Where the synthetic transactions Parquet goes (default: a temporary directory, removed after).",
)
def clv(customers: int, seed: int, workdir: str | None) -> None:
    """Summary + BG/NBD + Gamma-Gamma fit + 12-month CLV on ~9.5 synthetic transactions per customer."""
    with tempfile.TemporaryDirectory(prefix="cdp-bench-clv-", dir=workdir) as scratch:
        steps, recovered = _run(customers, seed, Path(scratch) / "transactions.parquet")
    steps[-1].extra = {
        "true": {"bgnbd": TRUE_BGNBD, "gamma_gamma": TRUE_GAMMA_GAMMA},
        "recovered": recovered,
    }
    saved = save_results("clv", steps, {"customers": customers, "seed": seed})
    body = "\n\n".join(
        [
            f"{customers:,} customers, {steps[0].rows:,} synthetic transactions drawn from the models "
            f"(seed {seed}), time unit `{TIME_UNIT}`; `cdp bench clv --customers {customers}`. "
            "Measured on a shared machine (other engineers' jobs running); RSS is the whole process.",
            markdown_table(steps),
            _recovery_table(recovered),
            "Recovered values differ from the truth by sampling noise plus the day-level rounding of "
            "purchase times (same-day purchases merge, as the contract defines a purchase).",
            f"Raw figures: `{saved.relative_to(saved.parents[2])}`.",
        ]
    )
    update_results_md("Customer lifetime value (`cdp bench clv`)", body)
    click.echo(markdown_table(steps))
    click.echo(_recovery_table(recovered))


def _run(customers: int, seed: int, path: Path) -> tuple[list[Measurement], dict]:
    """Each step measured on its own; returns the measurements and the recovered parameters."""
    from analytics.clv import (
        BgNbdParams,
        ClvParams,
        GammaGammaParams,
        TransactionColumns,
        fit_bgnbd,
        fit_gamma_gamma,
        predict_clv,
        summarize_file,
    )
    from analytics.clv.simulate import simulate_transactions

    with measure("simulate + write Parquet") as simulated:
        transactions = simulate_transactions(
            BgNbdParams.from_dict(TRUE_BGNBD),
            GammaGammaParams.from_dict(TRUE_GAMMA_GAMMA),
            customers=customers,
            observation_end=OBSERVATION_END,
            max_tenure_days=MAX_TENURE_DAYS,
            seed=seed,
        )
        simulated.rows = transactions.height
        transactions.write_parquet(path)
        del transactions
        gc.collect()
    with measure("summarize transactions (read Parquet)", rows=simulated.rows) as summarized:
        summary = summarize_file(path, TransactionColumns(), OBSERVATION_END, TIME_UNIT)
    with measure("fit BG/NBD", rows=summary.height) as fitted_bgnbd:
        bgnbd = fit_bgnbd(summary)
    with measure("fit Gamma-Gamma", rows=summary.height) as fitted_gamma_gamma:
        gamma_gamma = fit_gamma_gamma(summary)
    params = ClvParams(bgnbd, gamma_gamma, summary.height, TIME_UNIT)
    with measure("predict 12-month CLV", rows=summary.height) as predicted:
        predict_clv(summary, params)
    steps = [simulated, summarized, fitted_bgnbd, fitted_gamma_gamma, predicted]
    total = Measurement(
        name="summary + fits + predict",
        seconds=sum(step.seconds for step in steps[1:]),
        peak_rss_mb=max(step.peak_rss_mb for step in steps[1:]),
        rows=simulated.rows,
    )
    return [*steps, total], params.to_dict()


def _recovery_table(recovered: dict) -> str:
    lines = ["| parameter | true | recovered | difference |", "|---|---:|---:|---:|"]
    for model, true in (("bgnbd", TRUE_BGNBD), ("gamma_gamma", TRUE_GAMMA_GAMMA)):
        for name, value in true.items():
            estimate = recovered[model][name]
            lines.append(f"| {name} | {value:g} | {estimate:.4g} | {(estimate - value) / value:+.1%} |")
    return "\n".join(lines)
