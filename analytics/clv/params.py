"""The fitted model as `cdp clv fit` writes it, and reading it back.

JSON shape (CONTRACTS.md):
`{"bgnbd": {"r", "alpha", "a", "b"}, "gamma_gamma": {"p", "q", "v"}, "customers": N, "time_unit": "week"}`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from analytics.clv.bgnbd import BgNbdParams
from analytics.clv.errors import ParamsError
from analytics.clv.files import atomic_output
from analytics.clv.gamma_gamma import GammaGammaParams
from analytics.clv.settings import DAYS_PER_UNIT, TimeUnit


@dataclass(frozen=True)
class ClvParams:
    """Both models, the number of customers they were fitted on and the unit their times are in."""

    bgnbd: BgNbdParams
    gamma_gamma: GammaGammaParams
    customers: int
    time_unit: TimeUnit

    def to_dict(self) -> dict[str, Any]:
        return {
            "bgnbd": self.bgnbd.to_dict(),
            "gamma_gamma": self.gamma_gamma.to_dict(),
            "customers": int(self.customers),
            "time_unit": self.time_unit,
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ClvParams:
        if values.get("time_unit") not in DAYS_PER_UNIT:
            raise ValueError(
                f"time_unit must be one of {sorted(DAYS_PER_UNIT)}, not {values.get('time_unit')!r}"
            )
        return cls(
            bgnbd=BgNbdParams.from_dict(values["bgnbd"]),
            gamma_gamma=GammaGammaParams.from_dict(values["gamma_gamma"]),
            customers=int(values["customers"]),
            time_unit=values["time_unit"],
        )


def save_params(params: ClvParams, path: str | Path) -> Path:
    """Write the JSON atomically: a reader sees the old file or the new one, never half of one."""
    with atomic_output(path) as temporary:
        temporary.write_text(json.dumps(params.to_dict(), indent=2) + "\n", encoding="utf-8")
    return Path(path)


def load_params(path: str | Path) -> ClvParams:
    path = Path(path)
    try:
        return ClvParams.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError as exc:
        raise ParamsError(f"{path}: parameter file not found; create it with `cdp clv fit`") from exc
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ParamsError(f"{path}: not a `cdp clv fit` parameter file: {exc!r}") from exc
