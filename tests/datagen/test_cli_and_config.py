"""`cdp generate` from the command line, its errors, and the `generator:` section of cdp.yaml."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from cdp.cli import main
from datagen.settings import GeneratorSettings
from warehouse.config import REPO_ROOT, CdpConfig, ConfigError, load_config


@dataclass
class Run:
    returncode: int
    stderr: str


@pytest.fixture
def cdp(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    """Run the console entry point in-process (same error handling as the installed `cdp`)."""

    def run(*args: str) -> Run:
        monkeypatch.setattr(sys, "argv", ["cdp", "-q", *args])
        capsys.readouterr()
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        return Run(code, capsys.readouterr().err)

    return run


def test_generate_and_increment_from_the_command_line(tmp_path: Path, cdp):
    out = tmp_path / "data"
    made = cdp("generate", "--customers", "120", "--seed", "3", "--out", str(out))
    assert made.returncode == 0, made.stderr
    assert (out / "truth/identity.parquet").exists() and (out / "landing/loyalty/loyalty.sqlite").exists()
    added = cdp("generate", "--increment-day", "2026-11-02", "--out", str(out))
    assert added.returncode == 0, added.stderr
    assert list((out / "landing/ecom/orders").glob("orders_2026-11-02.jsonl"))


def test_generate_refuses_to_overwrite_exports_it_did_not_write(tmp_path: Path, cdp):
    foreign = tmp_path / "data/landing/pos/stores/S001"
    foreign.mkdir(parents=True)
    (foreign / "members.csv").write_text("card_no\n1\n")
    result = cdp("generate", "--customers", "50", "--out", str(tmp_path / "data"))
    assert result.returncode != 0
    assert "did not write" in result.stderr and "Traceback" not in result.stderr
    assert (foreign / "members.csv").exists()


def test_increment_without_a_data_set_is_a_clean_error(tmp_path: Path, cdp):
    result = cdp("generate", "--increment-day", "2026-11-02", "--out", str(tmp_path))
    assert result.returncode != 0
    assert "run `cdp generate" in result.stderr and "Traceback" not in result.stderr


def test_increment_takes_people_and_seed_from_the_data_set(tmp_path: Path, cdp):
    result = cdp("generate", "--increment-day", "2026-11-02", "--seed", "4", "--out", str(tmp_path))
    assert result.returncode == 2 and "--customers/--seed" in result.stderr


def test_the_documented_defaults_in_cdp_yaml_are_the_models_defaults():
    config = load_config(REPO_ROOT / "cdp.yaml")
    assert config.section("generator", GeneratorSettings) == GeneratorSettings()


@pytest.mark.parametrize(
    "section, field",
    [
        ({"start_date": "2026-01-01", "end_date": "2025-01-01"}, "end_date"),
        ({"noise": {"wrong_contact": 1.5}}, "wrong_contact"),
        ({"noise": {"wrong_contactt": 0.3}}, "wrong_contactt"),
    ],
)
def test_a_bad_generator_section_names_the_section_and_field(section: dict, field: str):
    config = CdpConfig(path=Path("cdp.yaml"), raw={"generator": section})
    with pytest.raises(ConfigError, match=f"(?s)'generator'.*{field}"):
        config.section("generator", GeneratorSettings)
