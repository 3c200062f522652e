"""`publish:` in cdp.yaml: a misspelt key or a wrong type fails with the key named, before any work."""

from __future__ import annotations

import pytest

from warehouse.config import REPO_ROOT, ConfigError, load_config
from warehouse.publish import DEFAULT_FILE_ROWS, cluster_columns, file_rows, partition_columns


def _config(tmp_path, publish_yaml: str):
    cfg_file = tmp_path / "cdp.yaml"
    cfg_file.write_text(f"data_root: ./data\npublish:\n{publish_yaml}")
    return load_config(cfg_file)


def test_the_repository_settings_are_read_as_documented():
    config = load_config(REPO_ROOT / "cdp.yaml")
    assert {m: split.rows for m, split in file_rows(config).items()} == DEFAULT_FILE_ROWS
    assert cluster_columns(config)["fct_orders"] == ("customer_id", "ordered_at")
    assert partition_columns(config) == {}


def test_empty_values_turn_a_setting_off(tmp_path):
    config = _config(tmp_path, "  file_rows: {}\n  cluster_by:\n  partition_by: {fct_orders: order_date}\n")
    assert file_rows(config) == {} and cluster_columns(config) == {}
    assert partition_columns(config) == {"fct_orders": "order_date"}


@pytest.mark.parametrize(
    "publish_yaml, named",
    [
        ("  file_row: {fct_events: 1000}\n", "file_row"),  # misspelt: was silently ignored
        ("  file_rows: {fct_events: lots}\n", "file_rows.fct_events"),  # was a bare ValueError
        ("  file_rows: {fct_events: -5}\n", "file_rows.fct_events"),
        ("  cluster_by: {fct_orders: customer_id}\n", "cluster_by.fct_orders"),
    ],
)
def test_a_wrong_key_or_type_is_an_error_naming_it(tmp_path, publish_yaml, named):
    config = _config(tmp_path, publish_yaml)
    with pytest.raises(ConfigError, match=r"invalid section 'publish'") as raised:
        file_rows(config)
    assert named in str(raised.value)
