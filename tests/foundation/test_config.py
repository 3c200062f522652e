"""cdp.yaml loading: defaults, overrides and errors that say where the problem is."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel

from warehouse.config import REPO_ROOT, TOP_LEVEL_KEYS, ConfigError, load_config


def test_repository_config_has_documented_defaults(config):
    assert config.default_phone_region == "CN"
    assert config.data_root.name == "data"


def test_data_root_in_file_is_relative_to_the_file(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("CDP_DATA_ROOT", raising=False)
    cfg_file = tmp_path / "conf" / "cdp.yaml"
    cfg_file.parent.mkdir()
    cfg_file.write_text("data_root: ../lakehouse\n")
    assert load_config(cfg_file).data_root == (tmp_path / "lakehouse").resolve()


def test_env_overrides_file_and_flag_overrides_env(tmp_path: Path, monkeypatch):
    cfg_file = tmp_path / "cdp.yaml"
    cfg_file.write_text("data_root: ./from_file\n")
    monkeypatch.setenv("CDP_DATA_ROOT", str(tmp_path / "from_env"))
    assert load_config(cfg_file).data_root == (tmp_path / "from_env").resolve()
    assert load_config(cfg_file, data_root=tmp_path / "flag").data_root == (tmp_path / "flag").resolve()


def test_invalid_section_names_file_and_section(tmp_path: Path):
    class Thresholds(BaseModel):
        minimum: float

    cfg_file = tmp_path / "cdp.yaml"
    cfg_file.write_text("quality:\n  minimum: not-a-number\n")
    with pytest.raises(ConfigError, match=r"cdp\.yaml: invalid section 'quality'"):
        load_config(cfg_file).section("quality", Thresholds)


def test_missing_explicit_file_is_an_error(tmp_path: Path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")


def test_not_a_mapping_is_an_error(tmp_path: Path):
    cfg_file = tmp_path / "cdp.yaml"
    cfg_file.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(cfg_file)


def test_a_misspelt_top_level_key_is_an_error_naming_it(tmp_path: Path):
    """`qualty:` would otherwise leave the whole quality section at its defaults without a word."""
    cfg_file = tmp_path / "cdp.yaml"
    cfg_file.write_text("data_root: ./data\nqualty:\n  incremental: false\n")
    with pytest.raises(
        ConfigError, match=r"cdp\.yaml: unknown top-level key\(s\) 'qualty' \(did you mean 'quality'\?\)"
    ):
        load_config(cfg_file)


def test_the_repository_config_uses_only_known_top_level_keys():
    assert set(load_config(REPO_ROOT / "cdp.yaml").raw) <= set(TOP_LEVEL_KEYS)
