"""`cdp resolve` on bad input: a clear message, a non-zero exit and no partial output."""

from __future__ import annotations

import errno
from pathlib import Path

import polars as pl
import pytest
import yaml
from click.testing import CliRunner

from cdp.cli import cli
from warehouse.config import REPO_ROOT

from .conftest import FAST_MODEL


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    raw = yaml.safe_load((REPO_ROOT / "cdp.yaml").read_text(encoding="utf-8"))
    raw["identity"]["model"].update(FAST_MODEL)
    path = tmp_path / "cdp.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


def resolve_cli(
    config_file: Path, frame: pl.DataFrame | None, tmp_path: Path, raw_bytes: bytes | None = None
):
    source, target = tmp_path / "in.parquet", tmp_path / "out.parquet"
    if raw_bytes is not None:
        source.write_bytes(raw_bytes)
    elif frame is not None:
        frame.write_parquet(source)
    args = [
        "--data-root",
        str(tmp_path / "data"),
        "-q",
        "resolve",
        "--input",
        str(source),
        "--output",
        str(target),
    ]
    # the contract's spelling: --config after the subcommand
    result = CliRunner().invoke(cli, [*args, "--config", str(config_file)])
    return result, target


@pytest.mark.parametrize(
    "frame, message",
    [
        (pl.DataFrame({"source": ["pos"], "email": ["a@b.cn"]}), "missing required column(s) record_id"),
        (pl.DataFrame({"record_id": ["1", "1", "2"], "source": ["pos"] * 3}), "record_id must be unique"),
        (pl.DataFrame({"record_id": ["1", None], "source": ["pos"] * 2}), "rows 2"),
        (pl.DataFrame({"record_id": ["1", " \t"], "source": ["pos"] * 2}), "empty 'record_id' (rows 2)"),
        (pl.DataFrame({"record_id": ["1 ", "2", "1 "], "source": ["pos"] * 3}), "ids '1 '"),
        (
            pl.DataFrame(
                {"record_id": ["1"], "source": [None]}, schema={"record_id": pl.String, "source": pl.String}
            ),
            "empty 'source'",
        ),
        (
            pl.DataFrame({"record_id": ["1"], "source": ["pos"], "email": [["a@b.cn"]]}),
            "column 'email' has type",
        ),
    ],
    ids=[
        "missing-record-id",
        "duplicate-ids",
        "null-id",
        "blank-id",
        "duplicate-padded-ids",
        "null-source",
        "wrong-type",
    ],
)
def test_bad_identity_tables_fail_cleanly_without_output(config_file, tmp_path, frame, message):
    result, target = resolve_cli(config_file, frame, tmp_path)
    assert result.exit_code != 0
    assert message in str(result.exception) + result.output
    assert not target.exists()


def test_an_unreadable_file_is_a_clean_error(config_file, tmp_path):
    result, target = resolve_cli(config_file, None, tmp_path, raw_bytes=b"this is not parquet")
    assert result.exit_code != 0
    assert "cannot read the identity records" in str(result.exception)
    assert not target.exists()


def test_the_contract_error_path_prints_a_message_not_a_traceback(config_file, tmp_path):
    import subprocess
    import sys

    source = tmp_path / "in.parquet"
    pl.DataFrame({"record_id": ["1", "1"], "source": ["pos", "pos"]}).write_parquet(source)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "cdp.cli",
            "--config",
            str(config_file),
            "resolve",
            "--input",
            str(source),
            "--output",
            str(tmp_path / "out.parquet"),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0
    assert "record_id must be unique" in proc.stderr
    assert "Traceback" not in proc.stderr


def resolve_with_state(config_file: Path, source: Path, output: Path, state: Path):
    args = ["--data-root", str(source.parent / "data"), "-q", "resolve", "--input", str(source)]
    options = ["--output", str(output), "--state", str(state), "--config", str(config_file)]
    return CliRunner().invoke(cli, [*args, *options])


@pytest.fixture
def two_records(tmp_path: Path) -> Path:
    source = tmp_path / "in.parquet"
    frame = pl.DataFrame({"record_id": ["1", "2"], "source": ["pos", "ecom"], "phone": ["13822761354"] * 2})
    frame.write_parquet(source)
    return source


def test_an_output_that_cannot_be_written_fails_before_resolving_and_saves_no_state(
    config_file, tmp_path, two_records
):
    (tmp_path / "a_file.parquet").write_bytes(b"not a folder")
    output, state = tmp_path / "a_file.parquet" / "out.parquet", tmp_path / "state"
    result = resolve_with_state(config_file, two_records, output, state)
    assert result.exit_code != 0
    assert "a_file.parquet is a file, not a folder" in str(result.exception)
    assert not state.exists()


def test_a_failed_output_write_leaves_the_saved_state_as_it_was(
    config_file, tmp_path, two_records, monkeypatch
):
    output, state = tmp_path / "out.parquet", tmp_path / "state"
    assert resolve_with_state(config_file, two_records, output, state).exit_code == 0
    saved = sorted(state.rglob("*"))

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pl.DataFrame, "write_parquet", disk_full)  # the output's write, not Delta's
    result = resolve_with_state(config_file, two_records, tmp_path / "again.parquet", state)
    assert isinstance(result.exception, OSError) and result.exception.errno == errno.ENOSPC
    assert sorted(state.rglob("*")) == saved  # the next run continues from the first one
    assert not (tmp_path / "again.parquet").exists()
    assert list(tmp_path.glob(".again.parquet.*")) == []  # nor a temporary file left behind


def test_messy_but_valid_input_resolves_one_row_per_record(config_file, tmp_path):
    long_text = "x" * 50_000
    frame = pl.DataFrame(
        {
            "record_id": [1, 2, 3, 4, 5],  # integer ids are read as text
            "source": ["pos", "ecom", "social", "survey", "pos"],
            "full_name": ["王芳", "Wang Fang 😀", "ワン・ファン", long_text, "Иван Петров"],
            "phone": ["13822761354", "+86 138 2276 1354", None, long_text, "💥"],
            "email": [None, None, None, None, None],  # an all-null column
            "date_of_birth": [19850312, 19850312, None, None, 20000101],  # a number, not a date
            "unknown_extra": ["kept", "out", "of", "the", "way"],
            # columns named like the engine's own comparison features: ignored, not a clash
            "name_key": ["a", "b", "c", "d", "e"],
            "dob": ["x", "x", "x", "x", "x"],
            "street_key": ["same", "same", "same", "same", "same"],
        },
        schema_overrides={"email": pl.String},
    )
    result, target = resolve_cli(config_file, frame, tmp_path)
    assert result.exit_code == 0, result.output
    out = pl.read_parquet(target)
    assert sorted(out["record_id"].to_list()) == ["1", "2", "3", "4", "5"]
    assert out.schema["customer_id"] == pl.String and out["customer_id"].null_count() == 0
    customer = dict(out.select("record_id", "customer_id").iter_rows())
    assert customer["1"] == customer["2"]  # same phone, same name in two scripts
    assert len({customer["3"], customer["4"], customer["5"], customer["1"]}) == 4


def test_record_ids_come_back_exactly_as_given_so_the_output_joins_to_the_input(config_file, tmp_path):
    ids = ["r1 ", " r2", "r3", "r3 "]  # spaces are part of an id: "r3" and "r3 " are two records
    frame = pl.DataFrame({"record_id": ids, "source": ["pos", "ecom", "pos", "ecom"]})
    result, target = resolve_cli(config_file, frame, tmp_path)
    assert result.exit_code == 0, result.output
    joined = frame.join(pl.read_parquet(target), on="record_id", how="left")
    assert sorted(joined["record_id"].to_list()) == sorted(ids)
    assert joined["customer_id"].null_count() == 0


def test_only_record_id_and_source_are_needed(config_file, tmp_path):
    result, target = resolve_cli(
        config_file, pl.DataFrame({"record_id": ["a", "b"], "source": ["x", "y"]}), tmp_path
    )
    assert result.exit_code == 0, result.output
    assert pl.read_parquet(target)["customer_id"].n_unique() == 2
