"""NPS / CSAT surveys: one record per response, scores that follow the respondent's satisfaction."""

from __future__ import annotations

import numpy as np
import polars as pl

from datagen.noise import pick_uniform
from datagen.people import keep_where
from datagen.vocabulary import Vocabulary


def response_details(
    responses: pl.DataFrame, people: pl.DataFrame, vocabulary: Vocabulary, rng: np.random.Generator
) -> pl.DataFrame:
    """nps (0-10), csat (1-5), touchpoint and an optional comment for each survey record."""
    n = responses.height
    frame = responses.join(
        people.select("person_idx", "satisfaction", "segment", pl.col("culture").alias("_culture"), "n_service"),
        on="person_idx", how="left", maintain_order="left",
    )  # fmt: skip
    satisfaction = frame["satisfaction"].to_numpy() + rng.normal(0, 0.5, n)
    nps = np.clip(np.round(7.2 + 2.0 * satisfaction + rng.normal(0, 1.2, n)), 0, 10).astype(np.int64)
    csat = np.clip(np.round(3.7 + 0.9 * satisfaction + rng.normal(0, 0.5, n)), 1, 5).astype(np.int64)
    segment = frame["segment"].to_numpy()
    touch = np.where(
        segment == "online",
        "online",
        np.where(
            segment == "store",
            "store",
            np.where(rng.random(n) < vocabulary.share("survey_store_if_omni"), "store", "online"),
        ),
    )
    touch = np.where(
        (frame["n_service"].to_numpy() > 0) & (rng.random(n) < vocabulary.share("survey_about_service")),
        "service",
        touch,
    )
    mood = np.where(nps >= 9, "praise", np.where(nps <= 6, "complaint", "neutral"))
    english = (frame["_culture"] == "western").to_numpy()
    comment = np.empty(n, dtype=object)
    texts = vocabulary.texts["survey_comments"]
    for lang, is_lang in (("en", english), ("zh", ~english)):
        for kind in ("praise", "neutral", "complaint"):
            rows = is_lang & (mood == kind)
            if rows.any():
                comment[rows] = pick_uniform(rng, texts[lang][kind], int(rows.sum())).to_numpy()
    written = rng.random(n) >= 0.5
    return frame.drop("satisfaction", "segment", "_culture", "n_service").with_columns(
        nps=pl.Series(nps),
        csat=pl.Series(csat),
        touchpoint=pl.Series(touch),
        comment=keep_where(pl.Series(comment, dtype=pl.String), written),
    )
