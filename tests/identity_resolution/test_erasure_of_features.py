"""Erasure reaches what the identity graph keeps of a person: their records' comparison features
(`record_features`) and the u sample's pairs (`u_sample_pairs`) are deleted with the records."""

from __future__ import annotations

import shutil

import polars as pl

from identity_resolution import store
from privacy.erasure import erase
from privacy.subject import Request
from tests.privacy.conftest import keys, published_lake  # noqa: F401 (the privacy tests' real lake)
from tests.privacy.lake import XIAOYU, privacy_config
from warehouse import delta
from warehouse.paths import LakePaths


def test_an_erased_persons_features_and_u_sample_pairs_are_gone(published_lake, tmp_path):  # noqa: F811
    root = tmp_path / "data"
    shutil.copytree(published_lake.root, root, symlinks=True)
    features_path = LakePaths.at(root).identity(store.FEATURES)
    sample_path = LakePaths.at(root).identity(store.U_SAMPLE)
    hers = delta.read(features_path).filter(pl.col("email") == XIAOYU.email)["record_id"]
    assert len(hers), "her records' features were saved (else this test proves nothing)"
    in_sample = pl.col("l_record_id").is_in(hers.implode()) | pl.col("r_record_id").is_in(hers.implode())
    assert delta.read(sample_path).filter(in_sample).height

    outcome = erase(privacy_config(root), Request("email", XIAOYU.email), actor="dpo@example.com")

    assert outcome.status == "erased"
    features = delta.read(features_path)
    assert not features.filter(pl.col("record_id").is_in(hers.implode())).height
    assert not features.filter(pl.col("email") == XIAOYU.email).height
    assert not features.filter(pl.col("phone").str.ends_with(XIAOYU.phone)).height
    assert not delta.read(sample_path).filter(in_sample).height
    assert len(features) > 0  # everyone else's features stay
