"""The right to erasure: one person leaves every layer, provably, and stays out.

Erasing is the slow part, so Zhao Xiaoyu is erased once for the module (`erased`) and the tests
read what it left; tests that must not erase (unknown person, dry run, blocked plan) only plan.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass

import duckdb
import polars as pl
import pytest

from privacy import audit, suppression
from privacy.erasure import ErasureOutcome, erase, plan_erasure
from privacy.errors import ErasureError, UnknownSubjectError
from privacy.query import run_query
from privacy.subject import Request
from tests.privacy.conftest import PublishedLake
from tests.privacy.lake import BYSTANDER_EMAIL, XIAOYU, privacy_config
from warehouse import delta
from warehouse.config import CdpConfig
from warehouse.paths import LakePaths


def files_mentioning(root, values: list[str]) -> dict[str, list[str]]:
    """Every file under `root` whose raw bytes contain one of `values` (UTF-8 or GBK, any case)."""
    found: dict[str, list[str]] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes().lower()
        hits = [v for v in values for enc in ("utf-8", "gbk") if v.lower().encode(enc) in data]
        if hits:
            found[str(path.relative_to(root))] = sorted(set(hits))
    return found


def snapshot(root) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@dataclass
class Erased:
    lake: PublishedLake
    outcome: ErasureOutcome
    dry_run_rows: dict[str, int]


@pytest.fixture(scope="module")
def erased(published_lake, tmp_path_factory) -> Erased:
    """A copy of the published lake after `cdp erase --email <hers>` by the data protection officer."""
    root = tmp_path_factory.mktemp("erased") / "data"
    shutil.copytree(published_lake.root, root, symlinks=True)
    lake = PublishedLake(privacy_config(root))
    before = snapshot(root)
    planned = erase(lake.config, Request("email", XIAOYU.email), dry_run=True)
    assert snapshot(root) == before, "a dry run changed files"
    outcome = erase(lake.config, Request("email", XIAOYU.email), actor="dpo@example.com")
    return Erased(lake, outcome, planned.plan.summary()["tables"])


def test_before_erasure_she_is_in_every_layer(published_lake):
    """The acceptance test below means something only if she really was everywhere."""
    found = files_mentioning(published_lake.root, [XIAOYU.email])
    for layer in ("landing/", "lake/bronze/", "lake/silver/", "lake/identity/"):
        assert any(name.startswith(layer) for name in found), layer
    paths = LakePaths.at(published_lake.root)
    quarantined = delta.read(paths.quarantine)["raw"].to_list()
    assert any(XIAOYU.email in raw for raw in quarantined)  # compressed on disk, there all the same
    assert (paths.root / "restricted" / "activation_lists.parquet.enc").exists()
    assert paths.duckdb.exists() and paths.build_duckdb.exists()
    assert any((paths.root / "roles").glob("*.duckdb"))


def test_after_erasure_no_file_under_the_data_root_holds_her_email_phone_or_name(erased):
    assert erased.outcome.status == "erased"
    assert files_mentioning(erased.lake.root, XIAOYU.erased_values) == {}
    assert erased.outcome.sweep is not None and erased.outcome.sweep.clean


def test_bystanders_keep_their_data_in_every_layer(erased):
    records = delta.read(LakePaths.at(erased.lake.root).silver("customer_records"))
    assert BYSTANDER_EMAIL in records["email"].to_list()
    assert files_mentioning(erased.lake.root / "landing", [BYSTANDER_EMAIL])
    people = run_query(erased.lake.config, "data_admin", "select count(*) as n from dim_customer")
    assert people.frame["n"][0] == delta.row_count(LakePaths.at(erased.lake.root).identity("golden_customer"))


def test_the_dry_run_planned_what_was_then_erased(erased):
    assert erased.dry_run_rows == erased.outcome.plan.summary()["tables"]
    assert (
        erased.dry_run_rows["bronze/pos__members"] == 1 and erased.dry_run_rows["quarantine/quarantine"] == 1
    )


def test_the_certificate_names_counts_and_hashes_never_the_erased_values(erased):
    events = audit.read(erased.lake.config).filter(pl.col("action") == "erasure")
    certificate = events.row(-1, named=True)
    assert (certificate["event_id"], certificate["actor"], certificate["outcome"]) == (
        erased.outcome.certificate_id,
        "dpo@example.com",
        "ok",
    )
    detail = json.loads(certificate["detail"])
    assert detail["tables"]["silver/customer_records"] == 5
    assert detail["sweep"]["clean"] is True and detail["subject_hashes"]["email"]
    assert not any(v.lower() in certificate["detail"].lower() for v in XIAOYU.erased_values)


def test_she_is_gone_from_the_marts_and_every_role_database(erased):
    config = erased.lake.config
    contacts = run_query(
        config, "customer_manager", "select contact_address from activation_lists_restricted"
    )
    assert XIAOYU.email not in contacts.frame["contact_address"].to_list()
    masked = run_query(config, "sales_rep", "select email from dim_customer")
    assert "x***@163.com" not in masked.frame["email"].to_list()


def test_erasing_her_again_is_a_clean_no_op(erased):
    again = erase(erased.lake.config, Request("phone", XIAOYU.phone_written))
    assert again.status == "already_erased" and "already erased" in again.done[0]


def test_the_suppression_list_drops_her_rows_from_an_old_export(erased):
    config = erased.lake.config
    old_export = pl.DataFrame(
        {
            "card_no": [XIAOYU.card, "8800000777"],
            "name": [XIAOYU.name, "Someone Else"],
            "mobile": [XIAOYU.phone_written, "13500001111"],
            "email": [None, "someone@example.com"],
        }
    )
    kept, dropped = suppression.drop_suppressed(config, "pos", "members", old_export)
    assert dropped == 1 and kept["card_no"].to_list() == ["8800000777"]
    flags = suppression.is_suppressed(config, "email", pl.Series([XIAOYU.email.upper(), BYSTANDER_EMAIL]))
    assert flags.to_list() == [True, False]
    rejected = pl.Series([f"{XIAOYU.rejected_card},,x,,F,bad,{XIAOYU.email},S002,", "1,2,3"])
    assert suppression.Suppressor(config).raw_mask("pos", rejected).to_list() == [True, False]


def test_a_new_source_s_export_lands_without_her_by_the_columns_its_mapping_reads_as_email_and_phone(erased):
    """A franchise source added by configuration only, its contact columns named `E-Mail` and
    `Telefon` and not (yet) in the PII catalogue: an export listing her under a new customer number
    is still dropped, because the registry maps those columns to email and phone."""
    base = erased.lake.config
    customers = {
        "path": "franchise/customers.csv",
        "format": "csv",
        "primary_key": ["KundenNr"],
        "silver": {
            "customer_records": {
                "columns": {"source_record_id": "KundenNr", "email": "E-Mail", "phone": "Telefon"}
            }
        },
    }
    sources = {**base.raw["sources"], "franchise": {"entities": {"customers": customers}}}
    config = CdpConfig(path=base.path, raw={**base.raw, "sources": sources}, data_root=base.data_root)
    export = pl.DataFrame(
        {
            "KundenNr": ["F1", "F2", "F3"],
            "E-Mail": [XIAOYU.email.upper(), None, "someone@example.com"],
            "Telefon": [None, XIAOYU.phone_written, "13500001111"],
        }
    )
    kept, dropped = suppression.drop_suppressed(config, "franchise", "customers", export)
    assert dropped == 2 and kept["KundenNr"].to_list() == ["F3"]


def test_the_suppression_list_finds_her_identifiers_quoted_in_text_as_written(erased):
    texts = pl.Series([f"call {XIAOYU.phone_written} or {XIAOYU.email.upper()}", "call 13800138000", None])
    found = suppression.Suppressor(erased.lake.config).mentions(texts, erased.outcome.plan.request_id)
    assert found == {"email": {XIAOYU.email.upper()}, "phone": {XIAOYU.phone_written}}
    assert suppression.Suppressor(erased.lake.config).mentions(texts, "another-request") == {}


def test_ingesting_a_redelivered_old_export_does_not_bring_her_back(erased, published_lake, tmp_path):
    from cdp import pipeline

    root = tmp_path / "data"
    shutil.copytree(erased.lake.root, root, symlinks=True)
    config = privacy_config(root)
    old = (published_lake.root / "landing" / "pos" / "stores" / "S002" / "members.csv").read_text(
        encoding="utf-8"
    )
    redelivered = old + "8800099200,,New Member,13600002222,F,1991-01-01,,S002,2025-05-01 10:00:00\n"
    (root / "landing" / "pos" / "stores" / "S002" / "members.csv").write_text(redelivered, encoding="utf-8")
    pipeline.ingest(config, "pos", "b20260401T000000")
    bronze = delta.read(LakePaths.at(root).bronze("pos", "members"))
    assert "8800099200" in bronze["card_no"].to_list()  # the file was loaded again...
    assert XIAOYU.card not in bronze["card_no"].to_list()  # ...without her


def test_the_next_daily_resolve_after_an_erasure_runs_and_keeps_everyone_elses_customer(erased, tmp_path):
    from cdp import pipeline

    root = tmp_path / "data"
    shutil.copytree(erased.lake.root, root, symlinks=True)
    config = privacy_config(root)
    links = LakePaths.at(root).identity("identity_links")
    before = delta.read(links).select("record_id", "customer_id")
    pipeline.standardize(config, "b20260401T000000")
    summary = pipeline.resolve(config, "b20260401T000000")
    assert summary["mode"] == "incremental", summary
    after = delta.read(links).select("record_id", "customer_id")
    assert before.sort("record_id").equals(after.sort("record_id"))


def test_erasing_an_unknown_person_is_an_error_and_changes_nothing(lake_copy):
    before = snapshot(lake_copy.root)
    with pytest.raises(UnknownSubjectError, match="no one with customer_id 'C-nobody'"):
        erase(lake_copy.config, Request("customer_id", "C-nobody"))
    assert snapshot(lake_copy.root) == before


def test_a_landing_file_not_loaded_yet_blocks_the_erasure_before_any_change(lake_copy):
    landing = lake_copy.root / "landing" / "service" / "tickets_2025-04.csv"
    landing.write_text(landing.read_text(encoding="utf-8") + "\n", encoding="utf-8")  # a new delivery
    before = snapshot(lake_copy.root)
    with pytest.raises(
        ErasureError, match=r"landing/service/tickets_2025-04\.csv holds the person but has not been loaded"
    ):
        erase(lake_copy.config, Request("email", XIAOYU.email))
    assert snapshot(lake_copy.root) == before


def test_her_records_are_found_from_any_identifier_and_through_shared_contacts(published_lake):
    mine = {
        f"pos:{XIAOYU.card}",
        f"loyalty:{XIAOYU.member}",
        f"ecom:{XIAOYU.shop_id}",
        f"service:{XIAOYU.requester}",
        f"survey:{XIAOYU.response}",
    }
    by_phone = plan_erasure(published_lake.config, Request("phone", XIAOYU.phone_written)).subject
    assert by_phone.of("record_id") == mine
    customer = next(iter(by_phone.of("customer_id")))
    by_id = plan_erasure(published_lake.config, Request("customer_id", customer)).subject
    assert by_id.of("record_id") == mine and by_id.of("email") >= {XIAOYU.email}


def test_she_is_filtered_out_of_every_monthly_file_of_a_folder_mart(erased, published_lake):
    """fct_orders is published as a folder of monthly files: erasure plans every file of it, filters
    those that held her rows and leaves the other months' files as they were."""
    folder = LakePaths.at(erased.lake.root).mart("fct_orders")
    before = LakePaths.at(published_lake.root).mart("fct_orders")
    steps = [s for s in erased.outcome.plan.marts if s.name == "fct_orders"]
    assert folder.is_dir() and len(list(folder.glob("*.parquet"))) >= 2 and steps
    assert {s.path.parent for s in steps} == {folder}
    assert erased.outcome.plan.summary()["marts"]["fct_orders"] == sum(s.rows for s in steps)
    for file in sorted(folder.glob("*.parquet")):
        for step in steps:
            left = duckdb.sql(f"select count(*) from read_parquet('{file}') where {step.predicate}")
            assert left.fetchall()[0][0] == 0, file.name
        if file not in {s.path for s in steps}:
            assert file.read_bytes() == (before / file.name).read_bytes(), file.name
    count = "select count(*) from read_parquet('{}/*.parquet')"
    assert duckdb.sql(count.format(folder)).fetchall()[0][0] == duckdb.sql(count.format(before)).fetchall()[
        0
    ][0] - sum(s.rows for s in steps)


# --- free text that quotes the person ---------------------------------------------------------
CALL_BACK = f"请回电 {XIAOYU.phone} {XIAOYU.name} {XIAOYU.email}"


def quote_her_in_a_bystanders_ticket(lake: PublishedLake) -> None:
    """王芳 (R1) opens a ticket whose subject quotes Xiaoyu's phone, name and email; it is loaded."""
    from cdp import pipeline
    from tests.ingest import landing as exports

    row = (
        f"T9950,R1,王芳,{BYSTANDER_EMAIL},13800138000,phone,low,logged,{CALL_BACK},,2025-05-02 09:00:00,,,1,"
    )
    exports.service_tickets(lake.root / "landing", "2025-05", [row])
    pipeline.ingest(lake.config, "service", "b20260402T000000")
    pipeline.standardize(lake.config, "b20260402T000000")


def ticket_subjects(lake: PublishedLake) -> dict[str, str]:
    """T9950's subject in bronze and silver."""
    paths = LakePaths.at(lake.root)
    found = {}
    for name, path, ticket in (
        ("bronze", paths.bronze("service", "tickets"), "T9950"),
        ("silver", paths.silver("tickets"), "service:T9950"),
    ):
        found[name] = delta.read(path).filter(pl.col("ticket_id") == ticket)["subject"].item()
    return found


def without_text_marks(lake: PublishedLake) -> PublishedLake:
    """The lake under a catalogue that does not mark `subject` as free text (as it once did not)."""
    catalogue = json.loads(json.dumps(lake.config.raw["privacy"]["catalogue"]))
    catalogue["columns"]["subject"].pop("identifies")
    return PublishedLake(privacy_config(lake.root, catalogue=catalogue))


def test_her_identifiers_quoted_in_anothers_ticket_are_redacted_in_bronze_and_silver(lake_copy):
    quote_her_in_a_bystanders_ticket(lake_copy)
    outcome = erase(lake_copy.config, Request("phone", XIAOYU.phone))
    assert outcome.status == "erased" and outcome.sweep is not None and outcome.sweep.clean
    assert outcome.plan.summary()["redacted"]["silver/tickets.subject"] == 1
    expected = f"请回电 [erased] {XIAOYU.name} [erased]"  # a name alone does not identify: kept
    assert ticket_subjects(lake_copy) == {"bronze": expected, "silver": expected}
    assert files_mentioning(lake_copy.root, [XIAOYU.email, XIAOYU.phone]) == {}


def test_an_incomplete_erasure_run_again_continues_and_completes(lake_copy):
    quote_her_in_a_bystanders_ticket(lake_copy)
    first = erase(without_text_marks(lake_copy).config, Request("phone", XIAOYU.phone))
    assert first.status == "incomplete"
    assert any(name.startswith("lake/silver/tickets/") for name in first.sweep.residual)

    again = erase(lake_copy.config, Request("phone", XIAOYU.phone))
    assert (again.status, again.plan.request_id) == ("erased", first.plan.request_id)
    assert again.sweep is not None and again.sweep.clean
    assert files_mentioning(lake_copy.root, [XIAOYU.email, XIAOYU.phone]) == {}
    certificates = audit.read(lake_copy.config).filter(
        (pl.col("action") == "erasure") & (pl.col("target") == first.plan.request_id)
    )
    assert certificates["outcome"].to_list() == ["incomplete", "ok"]
    assert erase(lake_copy.config, Request("email", XIAOYU.email)).status == "already_erased"


def plant_generator_truth(root, *, manifest: bool) -> None:
    """What `cdp generate` leaves beside its exports: the answer key, naming her in clear."""
    truth = LakePaths.at(root).truth
    truth.mkdir()
    pl.DataFrame(
        {
            "person_id": ["P00000007"],
            "email_1": [XIAOYU.email],
            "phone": [XIAOYU.phone],
            "family_name": ["赵"],
        }
    ).write_parquet(truth / "people.parquet")
    pl.DataFrame(
        {"source": ["pos"], "source_record_id": [XIAOYU.card], "person_id": ["P00000007"]}
    ).write_parquet(truth / "identity.parquet")
    if manifest:
        (truth / "generator_manifest.json").write_text('{"increments": []}\n', encoding="utf-8")


def test_on_a_generated_root_the_generators_truth_is_left_whole_and_the_certificate_says_so(lake_copy):
    plant_generator_truth(lake_copy.root, manifest=True)
    truth = LakePaths.at(lake_copy.root).truth
    answer_key = snapshot(truth)
    outcome = erase(lake_copy.config, Request("email", XIAOYU.email))
    assert outcome.status == "erased" and outcome.sweep is not None and outcome.sweep.clean
    assert snapshot(truth) == answer_key  # benchmarks and tests score against it
    left = files_mentioning(lake_copy.root, [XIAOYU.email, XIAOYU.phone])
    assert [name for name in left if not name.startswith("truth/")] == []
    certificate = audit.read(lake_copy.config).filter(pl.col("event_id") == outcome.certificate_id)
    swept = json.loads(certificate["detail"][0])["sweep"]
    assert list(swept["not_searched"]) == ["truth"] and "generator" in swept["not_searched"]["truth"]


def test_a_truth_folder_that_is_not_the_generators_is_swept_like_any_other(lake_copy):
    plant_generator_truth(lake_copy.root, manifest=False)
    outcome = erase(lake_copy.config, Request("email", XIAOYU.email))
    assert outcome.status == "incomplete" and outcome.sweep is not None
    assert "truth/people.parquet" in outcome.sweep.residual and outcome.sweep.skipped == {}
