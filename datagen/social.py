"""Social channels: profiles (handles, display names, rare contacts) and posts/comments with sentiment.

Most profiles cannot be tied to a person by contact details: handles and display names are nicknames,
and only a few profiles show an email or phone. What people write follows how satisfied they are:
praise, questions or complaints, in Chinese or English.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from datagen.calendar import Calendar
from datagen.noise import pick_uniform
from datagen.purchases import within_group_position
from datagen.random_streams import random_hex
from datagen.settings import GeneratorSettings
from datagen.vocabulary import Vocabulary

SENTIMENTS = np.array(["praise", "neutral", "complaint"], dtype=object)


def profile_details(
    profiles: pl.DataFrame, people: pl.DataFrame, vocabulary: Vocabulary, rng: np.random.Generator
) -> pl.DataFrame:
    """handle, display_name, bio, followers for each social record (handles made unique later)."""
    n = profiles.height
    texts = vocabulary.texts
    frame = profiles.join(
        people.select("person_idx", "culture", pl.col("given_name").alias("_given"), pl.col("family_name").alias("_family"),
                      "given_latin", "family_latin", "nickname", "birth_date", pl.col("city").alias("_city")),
        on="person_idx", how="left", maintain_order="left",
    )  # fmt: skip
    zh = pl.col("culture") == "zh"
    given = pl.col("given_latin").str.to_lowercase()
    family = pl.col("family_latin").str.to_lowercase()
    nick_zh = pick_uniform(rng, texts["nicknames"]["zh"], n)
    nick_en = pick_uniform(rng, texts["nicknames"]["en"], n)
    digits = pl.Series(rng.integers(1, 9999, n)).cast(pl.String)
    style = pl.lit(pl.Series(rng.integers(0, 5, n)))
    handle = (
        pl.when(style == 0)
        .then(pl.concat_str([given, family, pl.lit(digits)]))
        .when(style == 1)
        .then(
            pl.concat_str(
                [
                    family,
                    pl.lit("_"),
                    given.str.slice(0, 1),
                    (pl.col("birth_date").dt.year() % 100).cast(pl.String).str.zfill(2),
                ]
            )
        )
        .when(style == 2)
        .then(pl.concat_str([pl.lit(nick_en), pl.lit("_"), pl.lit(digits)]))
        .when(style == 3)
        .then(pl.format("user_{}", pl.lit(random_hex(rng, n, 8))))
        .otherwise(
            pl.concat_str([pl.coalesce(pl.col("nickname").str.to_lowercase(), given), pl.lit("."), family])
        )
    )
    shown = pl.lit(pl.Series(rng.integers(0, 5, n)))
    display = (
        pl.when(shown == 0)
        .then(
            pl.when(zh)
            .then(pl.concat_str(["_family", "_given"]))
            .otherwise(
                pl.concat_str([pl.col("_given"), pl.col("_family").str.slice(0, 1) + "."], separator=" ")
            )
        )
        .when((shown == 1) & zh)
        .then(pl.concat_str([pl.lit("小"), pl.col("_given").str.slice(-1)]))
        .when((shown == 2) & zh)
        .then(pl.concat_str([pl.col("_given").str.slice(-1), pl.col("_given").str.slice(-1)]))
        .when(zh)
        .then(pl.lit(nick_zh))
        .otherwise(pl.lit(nick_en))
    )
    bio_zh = pick_uniform(rng, texts["bios"]["zh"], n)
    bio_en = pick_uniform(rng, texts["bios"]["en"], n)
    bio = (
        pl.when(zh)
        .then(pl.lit(bio_zh))
        .otherwise(pl.lit(bio_en))
        .str.replace("{city}", pl.col("_city"), literal=True)
    )
    followers = np.floor(rng.lognormal(4.0, 1.6, n)).astype(np.int64)
    return frame.with_columns(
        handle=handle.str.replace_all(r"[^a-z0-9_.]", ""),
        display_name=pl.when(pl.col("missing_fields").fill_null("").str.contains("name"))
        .then(None)
        .otherwise(display),
        bio=bio,
        followers=pl.Series(followers),
    ).drop("culture", "_given", "_family", "given_latin", "family_latin", "nickname", "birth_date", "_city")


def simulate_posts(
    profiles: pl.DataFrame,
    people: pl.DataFrame,
    settings: GeneratorSettings,
    calendar: Calendar,
    vocabulary: Vocabulary,
    rng: np.random.Generator,
    hi: int,
) -> pl.DataFrame:
    """Posts and comments (comments answer earlier posts of the same chunk)."""
    engagement = settings.engagement
    posts_n = rng.poisson(engagement.posts_per_profile_mean, profiles.height)
    comments_n = rng.poisson(engagement.comments_per_profile_mean, profiles.height)
    count = posts_n + comments_n
    owner = np.repeat(np.arange(profiles.height), count)
    n = owner.size
    is_comment = within_group_position(count) >= posts_n[owner]
    lo = np.maximum(profiles["created_at"].to_numpy()[owner], calendar.start_s)
    created = (lo + rng.random(n) * np.maximum(hi - lo, 0)).astype(np.int64)
    created = np.clip(calendar.retime(rng, created, "online"), lo, hi)
    base = (
        profiles[owner]
        .select("rkey", "person_idx")
        .join(
            people.select("person_idx", "satisfaction", "culture", "city"),
            on="person_idx",
            how="left",
            maintain_order="left",
        )
    )
    satisfaction = base["satisfaction"].to_numpy() + rng.normal(0, 0.8, n)
    sentiment = SENTIMENTS[np.where(satisfaction > 0.5, 0, np.where(satisfaction < -0.6, 2, 1))]
    english = np.where(
        (base["culture"] == "zh").to_numpy(),
        rng.random(n) < vocabulary.share("english_if_chinese"),
        rng.random(n) < vocabulary.share("english_if_western"),
    )
    text = _texts(vocabulary, sentiment, english, is_comment, rng)
    post_ids = random_hex(rng, n, 16)
    catalog = vocabulary.catalog
    product = catalog["item_name"].gather(pl.Series(rng.integers(0, catalog.height, n), dtype=pl.UInt32))
    posts = base.select(profile_rkey="rkey").with_columns(
        post_id=post_ids,
        type=pl.Series(np.where(is_comment, "comment", "post")),
        text=text.str.replace("{product}", product, literal=True).str.replace(
            "{city}", base["city"], literal=True
        ),
        created_at=pl.Series(created),
        likes=pl.Series(rng.poisson(np.where(is_comment, 1.0, 8.0))),
    )
    originals = posts.filter(pl.col("type") == "post").select("post_id", "created_at")
    if originals.height == 0:
        return posts.filter(pl.col("type") == "post").with_columns(
            parent_post_id=pl.lit(None, dtype=pl.String)
        )
    comments = posts.filter(pl.col("type") == "comment")
    parent = rng.integers(0, originals.height, comments.height)
    parent_at = originals["created_at"].to_numpy()[parent]
    comments = comments.with_columns(
        parent_post_id=originals["post_id"].gather(pl.Series(parent, dtype=pl.UInt32)),
        created_at=pl.Series(
            np.maximum(
                comments["created_at"].to_numpy(), parent_at + rng.integers(60, 2 * 86_400, comments.height)
            )
        ),
    )
    return pl.concat(
        [
            posts.filter(pl.col("type") == "post").with_columns(parent_post_id=pl.lit(None, dtype=pl.String)),
            comments,
        ]
    ).filter(pl.col("created_at") < hi)


def _texts(
    vocabulary: Vocabulary,
    sentiment: np.ndarray,
    english: np.ndarray,
    comment: np.ndarray,
    rng: np.random.Generator,
) -> pl.Series:
    out = np.empty(len(sentiment), dtype=object)
    for kind, is_kind in (("posts", ~comment), ("comments", comment)):
        for lang, is_lang in (("en", english), ("zh", ~english)):
            for mood in SENTIMENTS:
                rows = is_kind & is_lang & (sentiment == mood)
                if rows.any():
                    out[rows] = pick_uniform(
                        rng, vocabulary.texts[kind][lang][mood], int(rows.sum())
                    ).to_numpy()
    return pl.Series(out, dtype=pl.String)
