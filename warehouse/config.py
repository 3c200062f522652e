"""Loading `cdp.yaml`, the single configuration file.

The loader knows only the global keys (data root, phone region, ...). Each package owns a section
and validates it with its own model via `CdpConfig.section(...)`, so adding a setting to one stage
never touches the others.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

CONFIG_ENV = "CDP_CONFIG"
DATA_ROOT_ENV = "CDP_DATA_ROOT"
CONFIG_FILE_NAME = "cdp.yaml"

# Every top-level key of cdp.yaml: the global settings and each package's section. A key not listed
# is a typo (`qualty:`) whose section would otherwise silently fall back to every default.
TOP_LEVEL_KEYS = (
    "data_root",
    "default_phone_region",
    "timezone",
    "default_currency",
    "generator",
    "clv",
    "sources",
    "ingest",
    "standardize",
    "marts",
    "publish",
    "identity",
    "privacy",
    "quality",
    "locks",
)

# The repository root holds the default cdp.yaml (the package is installed editable).
REPO_ROOT = Path(__file__).resolve().parent.parent

ModelT = TypeVar("ModelT", bound=BaseModel)


class ConfigError(ValueError):
    """A configuration problem, with the file and key that caused it."""


@dataclass(frozen=True)
class CdpConfig:
    """The parsed configuration plus where it came from."""

    path: Path | None
    raw: dict[str, Any] = field(default_factory=dict)
    data_root: Path = Path("data")

    @property
    def base_dir(self) -> Path:
        """Directory that relative paths in the file are resolved against."""
        return self.path.parent if self.path else Path.cwd()

    @property
    def default_phone_region(self) -> str:
        return str(self.raw.get("default_phone_region", "CN"))

    @property
    def timezone(self) -> str:
        return str(self.raw.get("timezone", "Asia/Shanghai"))

    @property
    def default_currency(self) -> str:
        return str(self.raw.get("default_currency", "CNY"))

    def section(self, name: str, model: type[ModelT] | None = None) -> Any:
        """Return one top-level section, validated by `model` when given.

        Validation errors name the file and the section so the user knows where to look.
        """
        value = self.raw.get(name) or {}
        if model is None:
            return value
        try:
            return model.model_validate(value)
        except ValidationError as exc:
            where = self.path or "<defaults>"
            raise ConfigError(f"{where}: invalid section '{name}':\n{exc}") from exc

    def with_data_root(self, data_root: str | Path) -> CdpConfig:
        return CdpConfig(path=self.path, raw=self.raw, data_root=Path(data_root).resolve())

    def with_setting(self, section: str, key: str, value: Any) -> CdpConfig:
        """This configuration with one key of one section replaced (a command-line override)."""
        raw = {**self.raw, section: {**(self.raw.get(section) or {}), key: value}}
        return CdpConfig(path=self.path, raw=raw, data_root=self.data_root)


def find_config_file(explicit: str | Path | None = None) -> Path | None:
    """Explicit path, then $CDP_CONFIG, then ./cdp.yaml, then the repository's default."""
    candidates: list[Path] = []
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"configuration file not found: {path}")
        return path.resolve()
    if os.environ.get(CONFIG_ENV):
        path = Path(os.environ[CONFIG_ENV])
        if not path.is_file():
            raise ConfigError(f"${CONFIG_ENV} points to a missing file: {path}")
        return path.resolve()
    candidates += [Path.cwd() / CONFIG_FILE_NAME, REPO_ROOT / CONFIG_FILE_NAME]
    for path in candidates:
        if path.is_file():
            return path.resolve()
    return None


def load_config(path: str | Path | None = None, data_root: str | Path | None = None) -> CdpConfig:
    """Load the configuration; `data_root` (from --data-root) beats $CDP_DATA_ROOT beats the file."""
    config_path = find_config_file(path)
    raw: dict[str, Any] = {}
    if config_path is not None:
        try:
            raw = yaml.safe_load(config_path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{config_path}: not valid YAML: {exc}") from exc
        if not isinstance(raw, dict):
            raise ConfigError(f"{config_path}: expected a mapping at the top level")
        _check_top_level_keys(config_path, raw)
    base = config_path.parent if config_path else Path.cwd()
    chosen = data_root or os.environ.get(DATA_ROOT_ENV) or raw.get("data_root") or "data"
    root = Path(chosen)
    if not root.is_absolute():
        # --data-root and $CDP_DATA_ROOT are relative to the caller; the file's key to the file.
        root = (Path.cwd() if (data_root or os.environ.get(DATA_ROOT_ENV)) else base) / root
    return CdpConfig(path=config_path, raw=raw, data_root=root.resolve())


def _check_top_level_keys(config_path: Path, raw: dict[str, Any]) -> None:
    """Refuse a top-level key no package reads, naming it and the key it was probably meant to be."""
    unknown = [str(key) for key in raw if key not in TOP_LEVEL_KEYS]
    if not unknown:
        return
    hints = []
    for key in unknown:
        close = difflib.get_close_matches(key, TOP_LEVEL_KEYS, n=1)
        hints.append(f"'{key}'" + (f" (did you mean '{close[0]}'?)" if close else ""))
    raise ConfigError(
        f"{config_path}: unknown top-level key(s) {', '.join(hints)}; "
        f"the keys are: {', '.join(TOP_LEVEL_KEYS)}"
    )
