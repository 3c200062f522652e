"""A small real data root holding one person to protect, and the privacy configuration for tests.

`build_lake(root)` writes landing exports of every source (the ingestion tests' `every_source`,
whose people are the bystanders) plus Zhao Xiaoyu's records in every source and one of her rows
that ingestion quarantines, then runs the real ingest, standardize and resolve stages. `publish`
then builds a small marts database from the lake (the shapes of the dbt marts privacy touches),
publishes it pseudonymised the way the publish step does, and builds the role databases.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import xlsxwriter

from cdp import pipeline
from privacy.publishing import pseudonymise_marts
from privacy.roles import publish_roles
from tests.ingest import landing as exports
from warehouse import delta
from warehouse.config import REPO_ROOT, CdpConfig, load_config
from warehouse.paths import LakePaths
from warehouse.publish import PartPlan

BATCH = "b20260301T000000"


@dataclass(frozen=True)
class Person:
    name: str = "赵小雨"
    latin_name: str = "Xiaoyu Zhao"
    email: str = "xiaoyu.zhao@163.com"
    phone: str = "13911112222"
    phone_written: str = "+86 139 1111 2222"
    card: str = "8800099001"
    rejected_card: str = "8800099002"
    member: str = "L00099001"
    shop_id: int = 700099001
    requester: str = "R9901"
    response: str = "Q9901"
    national_id: str = "110101199001011234"

    @property
    def erased_values(self) -> list[str]:
        """What the acceptance test searches every file for."""
        return [self.email, self.phone, self.phone_written, self.name, self.latin_name, self.national_id]


XIAOYU = Person()
BYSTANDER_EMAIL = "wf@example.com"  # 王芳 of the ingestion fixtures: must survive every erasure


def privacy_config(root: Path, backups: Path | None = None, **privacy: Any) -> CdpConfig:
    """The repository's cdp.yaml on `root`; backups under `backups`; `privacy` keys merged in."""
    base = load_config(REPO_ROOT / "cdp.yaml", data_root=root)
    raw = dict(base.raw)
    section = dict(raw.get("privacy") or {})
    section["backup"] = {**section.get("backup", {}), "root": str(backups or root.parent / "backups")}
    section.update(privacy)
    raw["privacy"] = section
    return CdpConfig(path=base.path, raw=raw, data_root=base.data_root)


def write_landing(landing: Path, person: Person = XIAOYU) -> None:
    exports.every_source(landing)
    members_header = exports.MEMBERS_HEADER
    exports.write_text(
        landing / "pos" / "stores" / "S002" / "members.csv",
        "\n".join(
            [
                members_header,
                f"{person.card},{person.member},{person.name},{person.phone_written},女,1990-01-01,,S002,2025-01-05 10:00:00",
                # rejected for its registration time (a bad birthday alone would only be nulled)
                f"{person.rejected_card},,{person.latin_name},{person.phone},F,31.02.1990,{person.email},S002,2025-13-06 10:00:00",
                "8800099100,,李雷,13700001111,男,1988-08-08,li.lei@example.com,S002,2025-01-07 10:00:00",
            ]
        )
        + "\n",
    )
    exports.pos_tickets(
        landing,
        "2025-04",
        [
            exports.ticket_line(
                "S002-20250401-000001", 1, card=person.card, store="S002", sold_at="2025-04-01 10:00:00"
            )
        ],
        store="S002",
    )
    with (landing / "ecom" / "customers.jsonl").open("a", encoding="utf-8") as handle:
        handle.write(
            json.dumps(
                {
                    "id": person.shop_id,
                    "email": person.email.upper(),
                    "first_name": "Xiaoyu",
                    "last_name": "Zhao",
                    "phone": f"+86{person.phone}",
                    "created_at": "2025-01-02T10:00:00+08:00",
                    "updated_at": "2025-01-02T10:00:00+08:00",
                    "accepts_marketing": True,
                    "accepts_marketing_updated_at": "2025-01-02T10:00:00+08:00",
                    "birthday": "1990-01-01",
                    "gender": "female",
                    "device_id": "d-xiaoyu",
                    "default_address": {
                        "address1": "9 Xiaoyu Lane",
                        "city": "北京",
                        "province": "北京",
                        "zip": "100000",
                        "country_code": "CN",
                    },
                },
                ensure_ascii=False,
            )
            + "\n"
        )
    guest = exports.ecom_order(
        5100099002, None, ["created", "shipped", "settled"], created="2025-04-03T10:00:00+08:00"
    )
    guest["email"] = person.email  # a guest checkout: no customer id, only her email
    exports.ecom_orders(
        landing,
        "2025-04",
        [
            exports.ecom_order(
                5100099001,
                person.shop_id,
                ["created", "shipped", "settled"],
                created="2025-04-02T10:00:00+08:00",
            ),
            guest,
        ],
    )
    exports.ecom_events(landing, "2025-04", [exports.event("e-xiaoyu", person.shop_id)])
    exports.service_tickets(
        landing,
        "2025-04",
        [
            f"T9901,{person.requester},{person.name},{person.email},{person.phone},phone,high,confirmed,"
            "lid broken,SN9,2025-04-05 09:00:00,2025-04-05 10:00:00,2025-04-06 09:00:00,1,4"
        ],
    )
    with sqlite3.connect(landing / "loyalty" / "loyalty.sqlite") as con:
        con.execute(
            "insert into members values (?, ?, ?, ?, '1990-01-01', '女', ?, 'silver', '2025-01-01 09:00:00',"
            " '9 Xiaoyu Lane', '北京', '北京', '100000', 1, 1, 0, 1, '2025-02-01 09:00:00')",
            [person.member, person.name, person.phone, person.email, person.national_id],
        )
    exports.write_text(
        landing / "loyalty" / "points" / "points_2025-04.csv",
        "entry_id,member_id,occurred_at,entry_type,points,order_ref,store_id\n"
        f"E9901,{person.member},2025-04-01 10:00:00,earn,100,S002-20250401-000001,S002\n",
    )
    _survey(landing / "survey" / "responses_2025-Q2.xlsx", person)


def _survey(path: Path, person: Person) -> None:
    workbook = xlsxwriter.Workbook(str(path))
    sheet = workbook.add_worksheet("responses")
    rows = [
        [
            "response_id",
            "submitted_at",
            "respondent_name",
            "email",
            "phone",
            "nps",
            "csat",
            "touchpoint",
            "comment",
        ],
        [
            person.response,
            "2025-04-10 10:00:00",
            person.name,
            person.email,
            person.phone,
            10,
            5,
            "store",
            "好",
        ],
        ["Q9902", "2025-04-11 10:00:00", "Han Meimei", "han.mm@example.com", None, 7, 4, "online", None],
    ]
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            if value is not None:
                sheet.write(r, c, value)
    workbook.close()


def build_lake(root: Path, config: CdpConfig) -> None:
    """Landing exports -> bronze, quarantine, silver and identity, through the real stages."""
    write_landing(root / "landing")
    for source in pipeline.source_names(config):
        pipeline.ingest(config, source, BATCH)
    pipeline.standardize(config, BATCH)
    pipeline.resolve(config, BATCH)


MARTS_SQL = {
    "dim_customer": """
        select customer_id, member_id, full_name, given_name, family_name, date_of_birth, gender, email, phone,
               city, region, country, consent_email, consent_sms, record_count, sources
        from golden""",
    "identity_links": """
        select source, source_record_id, customer_id, record_id, link_rule, match_probability from links""",
    "fct_orders": """
        select orders.order_id, links.customer_id, orders.record_id, orders.source, orders.status,
               orders.channel, orders.store_id, orders.total_amount, orders.order_date
        from orders left join links on orders.record_id = links.record_id""",
    "activation_lists": """
        select customer_id, 'win_back' as list_name, 'email' as contact_channel, email as contact_address,
               'birthday on ' || cast(date_of_birth as varchar) as reason, date '2026-03-01' as as_of_date
        from golden where consent_email and email is not null""",
}


def build_marts(config: CdpConfig) -> Path:
    """A build database with the marts privacy cares about, computed from the lake (schema `marts`)."""
    paths = LakePaths.at(config.data_root)
    paths.build.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(paths.build_duckdb)) as con:
        con.register("golden", delta.read(paths.identity("golden_customer")).to_arrow())
        con.register("links", delta.read(paths.identity("identity_links")).to_arrow())
        con.register("orders", delta.read(paths.silver("orders")).to_arrow())
        con.execute("create schema if not exists marts")
        for name, sql in MARTS_SQL.items():
            con.execute(f"create or replace table marts.{name} as {sql}")
    return paths.build_duckdb


def publish(config: CdpConfig, build_db: Path | None = None) -> dict[str, Any]:
    """What the wired publish step does: pseudonymised Parquet, cdp.duckdb from it, role databases.

    Without `build_db`, the marts are first built from the lake by `build_marts`.
    """
    paths = LakePaths.at(config.data_root)
    folders = {"fct_orders": PartPlan("order_date")}  # a folder of monthly files, as publish can write it
    summary = pseudonymise_marts(config, build_db or build_marts(config), paths.marts, parts=folders)
    with duckdb.connect(str(paths.duckdb)) as con:
        for mart in summary["marts"]:
            con.execute(
                f"create or replace table \"{mart}\" as select * from read_parquet('{paths.mart(mart)}')"
            )
    publish_roles(config)
    return summary
