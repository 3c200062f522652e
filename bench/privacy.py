"""`cdp bench privacy`: pseudonymised publishing, role databases, erasure and backups at scale.

A synthetic data root with N customers: a build database whose `dim_customer` (N rows, names,
emails, phones, birth dates) and `activation_lists` (N/2 rows with contacts) need every treatment,
and silver / identity Delta tables (N records) for erasure to search. Measured: pseudonymising the
marts (keyed hash per distinct id, masks, the encrypted restricted copy), building the role
databases, one role query, erasing one person (plan, delete, history purge, sweep of every file),
a full backup and a restore drill.
"""

from __future__ import annotations

import base64
import os
import tempfile
from pathlib import Path

import click

from bench.measure import Measurement, markdown_table, measure, save_results, update_results_md

DIM_CUSTOMER_SQL = """
select
    'C' || lpad(cast(i as varchar), 9, '0') as customer_id,
    'L' || lpad(cast(i as varchar), 9, '0') as member_id,
    'Name ' || cast(i as varchar) as full_name,
    'Given' as given_name,
    'Family' as family_name,
    'user' || cast(i as varchar) || '@example.com' as email,
    '+86139' || lpad(cast(i as varchar), 8, '0') as phone,
    date '1970-01-01' + cast(i % 15000 as integer) as date_of_birth,
    case when i % 2 = 0 then 'F' else 'M' end as gender,
    'City ' || cast(i % 300 as varchar) as city,
    (i % 3 = 0) as consent_email,
    cast(i % 1000 as double) as total_spend
from range(1, {n} + 1) t(i)
"""
ACTIVATION_SQL = """
select customer_id, 'win_back' as list_name, 'email' as contact_channel, email as contact_address,
       'dormant' as reason, date '2026-10-31' as as_of_date
from marts.dim_customer where customer_id < 'C' || lpad(cast({n} // 2 as varchar), 9, '0')
"""


@click.command("privacy")
@click.option("--customers", type=click.IntRange(min=1000), default=1_000_000, show_default=True)
@click.option(
    "--workdir",
    type=click.Path(file_okay=False),
    default=None,
    help="Where the synthetic data root goes (default: a temporary directory, removed after).",
)
def privacy(customers: int, workdir: str | None) -> None:
    """Pseudonymise marts, build role databases, erase one person and back up, on N synthetic customers."""
    os.environ.setdefault("CDP_HMAC_KEY", base64.b64encode(os.urandom(32)).decode())
    os.environ.setdefault("CDP_ENCRYPTION_KEY", base64.b64encode(os.urandom(32)).decode())
    with tempfile.TemporaryDirectory(prefix="cdp-bench-privacy-", dir=workdir) as scratch:
        steps = _run(customers, Path(scratch))
    saved = save_results("privacy", steps, {"customers": customers})
    body = "\n\n".join(
        [
            f"{customers:,} synthetic customers (dim_customer {customers:,} rows, activation_lists "
            f"{customers // 2:,} rows, silver/identity Delta tables {customers:,} rows each); "
            f"`cdp bench privacy --customers {customers}`. Measured on a shared machine; RSS is the "
            "whole process.",
            markdown_table(steps),
            f"Raw figures: `{saved.relative_to(saved.parents[2])}`.",
        ]
    )
    update_results_md("Personal-data protection (`cdp bench privacy`)", body)
    click.echo(markdown_table(steps))


def _run(customers: int, scratch: Path) -> list[Measurement]:
    import duckdb

    from privacy.backup import backup, verify_backup
    from privacy.erasure import erase
    from privacy.publishing import pseudonymise_marts
    from privacy.query import run_query
    from privacy.roles import publish_roles
    from privacy.subject import Request
    from warehouse import delta
    from warehouse.config import REPO_ROOT, CdpConfig, load_config
    from warehouse.paths import LakePaths

    root = scratch / "data"
    base = load_config(REPO_ROOT / "cdp.yaml", data_root=root)
    raw = {
        **base.raw,
        "privacy": {**base.raw.get("privacy", {}), "backup": {"root": str(scratch / "backups")}},
    }
    config = CdpConfig(path=base.path, raw=raw, data_root=base.data_root)
    paths = LakePaths.at(root)
    paths.build.mkdir(parents=True)
    with measure("synthesise build database and lake", rows=customers) as synthesised:
        with duckdb.connect(str(paths.build_duckdb)) as con:
            con.execute("create schema marts")
            con.execute(f"create table marts.dim_customer as {DIM_CUSTOMER_SQL.format(n=customers)}")
            con.execute(f"create table marts.activation_lists as {ACTIVATION_SQL.format(n=customers)}")
            records = con.sql(
                "select 'pos:' || member_id as record_id, 'pos' as source, member_id as source_record_id, "
                "full_name, email, phone, member_id, date_of_birth, consent_email from marts.dim_customer"
            ).to_arrow_table()
            links = con.sql(
                "select 'pos:' || member_id as record_id, customer_id from marts.dim_customer"
            ).to_arrow_table()
            golden = con.sql("select * exclude (total_spend) from marts.dim_customer").to_arrow_table()
        delta.write(records, paths.silver("customer_records"), "overwrite")
        delta.write(links, paths.identity("identity_links"), "overwrite")
        delta.write(golden, paths.identity("golden_customer"), "overwrite")
    with measure(
        "pseudonymise marts (+ encrypted restricted copy)", rows=customers + customers // 2
    ) as published:
        summary = pseudonymise_marts(config, paths.build_duckdb, paths.marts)
        with duckdb.connect(str(paths.duckdb)) as con:
            for mart in summary["marts"]:
                con.execute(f"create table {mart} as select * from read_parquet('{paths.mart(mart)}')")
    with measure("publish role databases", rows=customers) as roles:
        publish_roles(config)
    with measure("role query (market_analyst, group by city)", rows=customers) as queried:
        run_query(config, "market_analyst", "select city, count(*) from dim_customer group by city")
    with measure("erase one person (plan, delete, purge, sweep)", rows=customers) as erased:
        erase(config, Request("email", "user42@example.com"))
    with measure("full backup (encrypted)") as backed_up:
        taken = backup(config, "full")
        backed_up.extra = {"files": taken.files, "bytes": taken.bytes_stored}
    with measure("restore drill (checksums + row counts)") as drilled:
        verify_backup(config)
    return [synthesised, published, roles, queried, erased, backed_up, drilled]
