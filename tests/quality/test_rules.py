"""The gate's own arithmetic, as pure functions: freshness, volume and fill-rate anomalies,
completeness, repair list."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest

from quality.derived import (
    DATED_SCHEMA,
    current_batch,
    data_freshness,
    data_freshness_slas,
    expected_bronze_columns,
    fill_batches,
    fill_drift,
    freshness,
    freshness_slas,
    landed_per_batch,
    volumes,
)
from quality.frames import partitions
from quality.outcomes import plain
from quality.repair import completeness_by_source, repair_list
from quality.settings import DataFreshnessSettings, FreshnessDefaults

NOW = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)


def _manifest(
    rows: list[tuple[str, str, str, str, int, datetime]], files: list[str] | None = None
) -> pl.DataFrame:
    """Load manifest rows; each row its own file unless `files` names them."""
    return pl.DataFrame(
        rows,
        schema={
            "source": pl.String, "entity": pl.String, "batch_id": pl.String, "status": pl.String,
            "rows_landed": pl.Int64, "finished_at": pl.Datetime("us", "UTC"),
        },
        orient="row",
    ).with_columns(file=pl.Series(files or [f"file{i}" for i in range(len(rows))]))  # fmt: skip


def test_freshness_is_hours_since_the_newest_landed_file_against_each_sources_sla():
    manifest = _manifest(
        [
            ("pos", "members", "b1", "loaded", 10, datetime(2026, 7, 1, 2, 0, tzinfo=UTC)),
            ("pos", "tickets", "b2", "skipped", 0, datetime(2026, 7, 1, 11, 0, tzinfo=UTC)),  # not new data
            ("ecom", "orders", "b1", "replaced", 5, datetime(2026, 6, 30, 12, 0, tzinfo=UTC)),
        ]
    )
    slas = freshness_slas(
        {"pos": {"freshness": {"warn_hours": 26, "fail_hours": 50}}, "ecom": {}, "survey": None},
        FreshnessDefaults(warn_hours=3, fail_hours=12),
    )
    result = {row["source"]: row for row in freshness(manifest, slas, NOW).iter_rows(named=True)}
    assert (result["pos"]["freshness_hours"], result["pos"]["warn_hours"]) == (10.0, 26.0)
    assert (result["ecom"]["freshness_hours"], result["ecom"]["fail_hours"]) == (24.0, 12.0)
    assert result["survey"]["newest_landed_at"] is None and result["survey"]["freshness_hours"] is None
    # never delivered: hours since the pipeline first loaded anything (ecom's file, 24 h ago)
    assert result["survey"]["hours_without_delivery"] == 24.0
    assert (
        result["pos"]["hours_without_delivery"] is None and result["ecom"]["hours_without_delivery"] is None
    )


def test_data_freshness_is_the_age_of_the_newest_business_date_each_source_delivered():
    """The newest date is the later of the rows landed since the last passing gate and what earlier
    gates recorded; sources come from the registry's silver mappings, SLAs from quality.data_freshness."""
    registry = {
        "pos": {"entities": {"tickets": {"silver": {"orders": {}, "order_lines": {}}}, "members": {}}},
        "ecom": {"entities": {"orders": {"silver": {"orders": {}}}, "events": {"silver": {"events": {}}}}},
        "loyalty": {"entities": {"points": {"silver": {"loyalty_ledger": {}}}}},
    }
    settings = DataFreshnessSettings(
        warn_hours=48, fail_hours=96, by_source={"loyalty": {"warn_hours": 168, "fail_hours": 336}}
    )
    slas = data_freshness_slas(registry, settings)
    assert slas.select("source", "entity", "data_column").rows() == [
        ("ecom", "events", "occurred_at"),
        ("ecom", "orders", "ordered_at"),
        ("loyalty", "loyalty_ledger", "occurred_at"),
        ("pos", "orders", "ordered_at"),
    ]
    landed = pl.DataFrame(
        [("pos", "orders", datetime(2026, 6, 30, 20, 0)), ("ecom", "orders", datetime(2026, 6, 1, 9, 0))],
        schema=DATED_SCHEMA,
        orient="row",
    )  # ecom re-delivered an old export today: its rows are old, its newest order is from before
    recorded = pl.DataFrame(
        [
            ("ecom", "orders", datetime(2026, 6, 29, 12, 0)),
            ("pos", "orders", datetime(2026, 6, 29, 12, 0)),
            ("loyalty", "loyalty_ledger", datetime(2026, 6, 24, 20, 0)),
        ],
        schema=DATED_SCHEMA,
        orient="row",
    )
    reference = datetime(2026, 7, 1, 20, 0)  # the run's logical moment, local time
    result = {
        (row["source"], row["entity"]): row
        for row in data_freshness(slas, landed, recorded, reference).iter_rows(named=True)
    }
    assert result[("pos", "orders")]["data_age_hours"] == 24.0  # today's rows are the newest
    assert result[("ecom", "orders")]["newest_data_at"] == datetime(2026, 6, 29, 12, 0)  # recorded wins
    assert result[("ecom", "orders")]["data_age_hours"] == 56.0
    assert (
        result[("loyalty", "loyalty_ledger")]["data_age_hours"],
        result[("loyalty", "loyalty_ledger")]["warn_hours"],
    ) == (168.0, 168.0)
    assert result[("ecom", "events")]["newest_data_at"] is None  # nothing dated yet: not judged
    assert result[("ecom", "events")]["fail_hours"] == 96.0
    assert all(row["data_column_found"] for row in result.values())
    # a declared column silver does not have is reported, not skipped
    unfound = data_freshness(slas, landed, recorded, reference, missing_columns=["events"])
    assert unfound.filter(~pl.col("data_column_found")).select("source", "entity").rows() == [
        ("ecom", "events")
    ]


def test_data_freshness_settings_refuse_a_fail_limit_below_the_warn_limit():
    with pytest.raises(ValueError, match=r"by_source\.pos\.fail_hours must not be below warn_hours"):
        DataFreshnessSettings(warn_hours=48, by_source={"pos": {"fail_hours": 24}})


def _history(counts: list[int], source: str = "pos", entity: str = "tickets") -> pl.DataFrame:
    return pl.DataFrame(
        {
            "source": source,
            "entity": entity,
            "batch_id": [f"b{i:02d}" for i in range(len(counts))],
            "rows_landed": counts,
            "rows_added": counts,
        }
    )


VOLUME_RULE = {"window": 30, "min_history": 5, "max_robust_z": 3.5, "min_change": 50}


def test_a_volume_far_from_the_recent_median_has_a_large_robust_z():
    # history 100,102,98,101,99,103,97 -> median 100, MAD 2 -> scale 2.9652; this run lands 40
    result = volumes(_history([100, 102, 98, 101, 99, 103, 97, 40]), "b07", **VOLUME_RULE).row(0, named=True)
    assert result["history_median"] == 100
    assert result["robust_z"] == pytest.approx((40 - 100) / (2 * 1.4826), abs=1e-3)
    assert result["abs_robust_z"] > 3.5
    assert (result["change"], result["anomalous"]) == (-60, 1)


def test_an_ordinary_volume_stays_near_zero_and_only_the_window_counts():
    counts = [5000] * 20 + [100, 102, 98, 101, 99, 103, 97, 100]  # an old regime outside the window
    result = volumes(_history(counts), "b27", **(VOLUME_RULE | {"window": 7})).row(0, named=True)
    assert result["history_runs"] == 7
    assert abs(result["robust_z"]) < 1


def test_a_flat_history_falls_back_to_one_row_as_scale_and_a_short_one_is_not_judged():
    flat = volumes(_history([50, 50, 50, 50, 50, 80]), "b05", **VOLUME_RULE).row(0, named=True)
    assert flat["robust_z"] == 30.0
    assert flat["anomalous"] == 0  # 30 rows more than ever: below min_change (50)
    short = volumes(_history([50, 50, 90]), "b02", **VOLUME_RULE).row(0, named=True)
    assert short["history_runs"] == 2 and short["robust_z"] is None and short["anomalous"] is None


def test_a_small_entity_swinging_by_multiples_is_not_anomalous_but_a_large_jump_is():
    # ~1 new loyalty member a day, then 11 on a busy day: z 6.7, but 10 rows is no broken export
    swing = volumes(_history([1, 0, 0, 2, 3, 11], "loyalty", "members"), "b05", **VOLUME_RULE)
    [row] = swing.iter_rows(named=True)
    assert (row["robust_z"] > 3.5, row["change"], row["anomalous"]) == (True, 10.0, 0)
    # the same entity landing its whole table again as new rows (a re-export under a new name)
    jump = volumes(_history([1, 0, 0, 2, 3, 850], "loyalty", "members"), "b05", **VOLUME_RULE)
    assert jump["anomalous"].to_list() == [1]


FILL_RULE = {"window": 30, "min_history": 5, "min_rows": 100, "min_drop": 0.2, "max_robust_z": 3.5}


def _fill_profile(column: str, runs: list[tuple[int, int]]) -> pl.DataFrame:
    """One pos member column over runs b00, b01, ... as (rows landed, non-empty values)."""
    return pl.DataFrame(
        {
            "batch_id": [f"b{i:02d}" for i in range(len(runs))],
            "source": "pos",
            "entity": "members",
            "column_name": column,
            "rows": [rows for rows, _ in runs],
            "filled": [filled for _, filled in runs],
        }
    )


def test_a_column_that_suddenly_lands_mostly_blank_is_flagged_with_its_history():
    # phone filled in 90-92% of 1,000 rows each run; this run only 300 of 1,000
    history = [(1000, 900), (1000, 910), (1000, 920), (1000, 905), (1000, 915), (1000, 300)]
    profile = pl.concat([_fill_profile("phone", history), _fill_profile("name", [(1000, 1000)] * 6)])
    result = {r["column_name"]: r for r in fill_drift(profile, "b05", **FILL_RULE).iter_rows(named=True)}
    phone = result["phone"]
    assert (phone["rows"], phone["fill_share"], phone["history_runs"]) == (1000, 0.3, 5)
    assert phone["history_median_share"] == 0.91 and phone["fill_drop"] == 0.61
    assert phone["robust_z"] == pytest.approx((0.3 - 0.91) / (0.005 * 1.4826), abs=1e-3)
    assert phone["drifted"] == 1
    assert (result["name"]["fill_share"], result["name"]["drifted"]) == (1.0, 0)


def test_an_ordinary_swing_a_small_drop_and_a_short_history_are_not_flagged():
    swinging = _fill_profile("note", [(500, 100), (500, 400), (500, 150), (500, 350), (500, 250), (500, 120)])
    small_drop = _fill_profile("email", [(500, 500)] * 5 + [(500, 460)])  # 1.0 -> 0.92: z -8, drop 0.08
    short = _fill_profile("city", [(500, 500)] * 3 + [(500, 0)])
    assert fill_drift(swinging, "b05", **FILL_RULE)["drifted"].to_list() == [0]  # drop 0.26, z -1.05
    assert fill_drift(small_drop, "b05", **FILL_RULE)["drifted"].to_list() == [0]
    [city] = fill_drift(short, "b03", **FILL_RULE).iter_rows(named=True)
    assert (city["history_runs"], city["fill_drop"], city["drifted"]) == (3, None, None)


def test_small_runs_are_neither_judged_nor_history_and_a_flat_history_uses_one_point_as_scale():
    # runs of 20 rows are noise: the flat history is the five runs of 1,000 rows
    runs = [(1000, 1000), (20, 2), (1000, 1000), (1000, 1000), (20, 0), (1000, 1000), (1000, 1000)]
    [flat] = fill_drift(_fill_profile("email", [*runs, (1000, 400)]), "b07", **FILL_RULE).iter_rows(
        named=True
    )
    assert (flat["history_runs"], flat["history_median_share"], flat["robust_z"]) == (5, 1.0, -60.0)
    assert flat["drifted"] == 1
    [tiny] = fill_drift(_fill_profile("email", [*runs, (40, 0)]), "b07", **FILL_RULE).iter_rows(named=True)
    assert (tiny["fill_share"], tiny["drifted"]) == (0.0, None)
    # a run bronze no longer held is stored as a row without a column: never a column, never history
    gone = _fill_profile("email", [(0, 0)]).with_columns(batch_id=pl.lit("b06x"), column_name=pl.lit(None))
    with_gone = fill_drift(
        pl.concat([_fill_profile("email", [*runs, (1000, 400)]), gone]), "b07", **FILL_RULE
    )
    assert (
        with_gone.rows()
        == fill_drift(_fill_profile("email", [*runs, (1000, 400)]), "b07", **FILL_RULE).rows()
    )


def test_fill_history_is_the_runs_that_landed_enough_rows_of_the_entities_this_run_landed():
    per_batch = pl.DataFrame(
        {
            "source": ["pos"] * 4 + ["ecom"] * 2,
            "entity": ["members"] * 4 + ["orders"] * 2,
            "batch_id": ["b00", "b01", "b02", "b03", "b00", "b01"],
            "rows_landed": [500, 30, 0, 200, 900, 900],
        }
    )
    needed = fill_batches(per_batch, "b03", window=30, min_rows=100)
    assert needed.rows() == [("pos", "members", "b00"), ("pos", "members", "b03")]  # ecom landed nothing now


def test_landed_rows_per_batch_count_only_new_data_and_the_current_batch_defaults_to_the_newest():
    manifest = _manifest(
        [
            ("pos", "tickets", "b1", "loaded", 10, NOW),
            ("pos", "tickets", "b1", "replaced", 4, NOW),
            ("pos", "tickets", "b2", "skipped", 99, NOW),
        ]
    )
    per_batch = dict(landed_per_batch(manifest).select("batch_id", "rows_landed").iter_rows())
    assert per_batch == {"b1": 14, "b2": 0}
    assert current_batch(manifest, "b1") == "b1"
    assert current_batch(manifest, "b9") == "b2"


def _snapshot_runs(sizes: list[int | None]) -> pl.DataFrame:
    """A members table landed whole each run it changed (None: unchanged, skipped), beside a
    day file of 100 tickets each run."""
    rows, files = [], []
    for i, size in enumerate(sizes):
        batch = f"b{i:02d}"
        status = "skipped" if size is None else ("loaded" if i == 0 else "replaced")
        rows.append(("loyalty", "members", batch, status, size or 0, NOW))
        rows.append(("pos", "tickets", batch, "loaded", 100, NOW))
        files += ["loyalty/loyalty.sqlite", f"pos/tickets_{i:02d}.csv"]
    return _manifest(rows, files)


def test_a_snapshot_re_landed_whole_adds_only_its_growth():
    per_batch = landed_per_batch(_snapshot_runs([800, 803, None, 806, 806, 810]))
    members = per_batch.filter(pl.col("entity") == "members").sort("batch_id")
    assert members["rows_landed"].to_list() == [800, 803, 0, 806, 806, 810]
    assert members["rows_added"].to_list() == [800, 3, 0, 3, 0, 4]
    tickets = per_batch.filter(pl.col("entity") == "tickets")
    assert (tickets["rows_added"] == tickets["rows_landed"]).all()


def test_an_ordinary_snapshot_day_is_not_a_volume_anomaly_but_a_half_empty_snapshot_is():
    sizes = [800, 803, None, 806, 806, 810, 812, None, 815]
    ordinary = volumes(landed_per_batch(_snapshot_runs(sizes)), "b08", **VOLUME_RULE)
    assert ordinary.filter(pl.col("entity") == "members")["anomalous"].to_list() == [0]
    skipped = volumes(landed_per_batch(_snapshot_runs(sizes[:8])), "b07", **VOLUME_RULE)
    assert skipped.filter(pl.col("entity") == "members")["anomalous"].to_list() == [0]
    half = volumes(landed_per_batch(_snapshot_runs([*sizes, 400])), "b09", **VOLUME_RULE)
    [row] = half.filter(pl.col("entity") == "members").iter_rows(named=True)
    assert (row["rows_landed"], row["rows_added"]) == (400, -415)
    assert (row["robust_z"] < -3.5, row["anomalous"]) == (True, 1)


def test_an_append_adds_its_rows_and_a_replacement_after_it_counts_from_the_whole_file():
    manifest = _manifest(
        [
            ("ecom", "customers", "b1", "loaded", 100, NOW),  # first load
            ("ecom", "customers", "b2", "loaded", 5, NOW),  # 5 records appended
            ("ecom", "customers", "b3", "failed", 0, NOW),  # held: changes nothing
            ("ecom", "customers", "b4", "replaced", 104, NOW),  # re-exported whole, one record gone
        ],
        ["ecom/customers.jsonl"] * 4,
    )
    added = dict(landed_per_batch(manifest).select("batch_id", "rows_added").iter_rows())
    assert added == {"b1": 100, "b2": 5, "b3": 0, "b4": -1}


def test_bronze_tables_must_carry_keys_typed_and_required_columns_but_not_optional_ones():
    registry = {
        "ecom": {
            "entities": {
                "orders": {
                    "primary_key": ["id"],
                    "types": {"created_at": "timestamp", "total_price": "decimal"},
                    "required": ["currency"],
                    "optional": ["total_price"],
                }
            }
        }
    }
    assert expected_bronze_columns(registry, "ecom", "orders") == (["id"], ["id", "created_at", "currency"])
    assert expected_bronze_columns(registry, "ecom", "unknown") == ([], [])


RECORDS = pl.DataFrame(
    {
        "record_id": ["pos:1", "pos:2", "pos:3", "ecom:1"],
        "source": ["pos", "pos", "pos", "ecom"],
        "completeness_score": [1.0, 0.5, None, 0.8],
        "full_name": ["王芳", " ", "Li", "Jane Doe"],
        "email": ["a@b.cn", "bad", None, "j@d.com"],
        "email_valid": [True, False, None, True],
        "gender": ["F", "U", "M", "F"],
    }
)


def test_records_below_the_threshold_are_listed_with_the_fields_to_repair():
    result = repair_list(
        RECORDS.lazy(), ["full_name", "email", "gender", "city"], 0.8, "r1", {"gender": ["U"]}
    ).collect()
    assert result.to_dicts() == [
        {"record_id": "pos:2", "source": "pos", "completeness_score": 0.5, "missing_fields": "full_name,email,gender,city", "run_id": "r1"},
        {"record_id": "pos:3", "source": "pos", "completeness_score": None, "missing_fields": "email,city", "run_id": "r1"},
    ]  # fmt: skip


def test_each_sources_complete_share_is_compared_with_what_is_expected_of_it():
    result = completeness_by_source(RECORDS.lazy(), 0.8, 0.5, {"pos": 0.1}, sample_rows=1)
    assert result.select(
        "source", "records", "complete_records", "complete_share", "expected_share"
    ).rows() == [
        ("ecom", 1, 1, 1.0, 0.5),
        ("pos", 3, 1, 0.3333, 0.1),
    ]
    assert result.filter(pl.col("source") == "pos")["sample_incomplete"].to_list() == [["pos:2"]]


def test_batches_split_by_labels_in_first_seen_order():
    frame = pl.DataFrame({"source": ["pos", "ecom", "pos", None], "n": [1, 2, 3, 4]}).to_arrow()
    split = partitions(frame, ["source"])
    assert [(labels, part.num_rows) for labels, part in split] == [
        ({"source": "pos"}, 2),
        ({"source": "ecom"}, 1),
        ({"source": "unknown"}, 1),
    ]
    assert partitions(frame, []) == [({}, frame)]


def test_details_are_plain_json_values():
    import numpy as np
    import pandas as pd

    assert plain({"n": np.int64(3), "x": 2.0, "y": float("nan"), "t": pd.Timestamp("2026-01-01"), "l": np.array(["a"])}) == {
        "n": 3, "x": 2, "y": None, "t": "2026-01-01T00:00:00", "l": ["a"],
    }  # fmt: skip


def test_the_completeness_bar_is_one_setting_shared_by_repair_list_and_activation_lists(config):
    from quality.settings import load_settings
    from warehouse.config import CdpConfig, ConfigError
    from warehouse.marts_settings import dbt_vars
    from warehouse.marts_settings import load_settings as load_marts_settings

    assert load_settings(config).completeness.threshold == 0.8  # the shipped cdp.yaml
    assert dbt_vars(config)["cdp"]["activation"]["min_completeness"] == 0.8
    raw = {**config.raw, "quality": {"completeness": {"threshold": 0.7}}}
    tuned = CdpConfig(path=config.path, raw=raw, data_root=config.data_root)
    assert load_settings(tuned).completeness.threshold == 0.7
    assert dbt_vars(tuned)["cdp"]["activation"]["min_completeness"] == 0.7
    second = CdpConfig(path=None, raw={"marts": {"activation": {"min_completeness": 0.6}}})
    with pytest.raises(ConfigError, match="min_completeness"):
        load_marts_settings(second)  # a second, diverging bar is refused
