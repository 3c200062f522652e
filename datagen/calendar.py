"""Simulated time: the window, seasonality, and turning "how many purchases" into dates.

Times are int64 seconds since 1970-01-01 in naive local time (Asia/Shanghai), which is how the
source systems write them. Purchases follow a Poisson-like clock whose speed changes with the season
(11.11, 618, Chinese New Year, weekends): a person's purchase gaps are drawn in *operational* time and
mapped through the cumulative seasonal intensity, so busy days get more purchases without any loop
over days or people.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np

from datagen.random_streams import choice_index
from datagen.settings import GeneratorSettings
from datagen.vocabulary import load as load_vocabulary

DAY = 86_400
EPOCH = date(1970, 1, 1)


def day_seconds(day: date) -> int:
    """Seconds of local midnight starting `day`."""
    return (day - EPOCH).days * DAY


@dataclass(frozen=True)
class Calendar:
    start: date  # first simulated and exported day
    end: date  # last exported day
    horizon_end: date  # last simulated day (end + increment horizon)
    intensity: np.ndarray  # purchase intensity per day, mean 1 over [start, end]
    online_boost: np.ndarray  # extra log-odds of buying online per day
    cumulative: np.ndarray  # cumulative intensity at each day boundary, length days + 1

    @property
    def days(self) -> int:
        return len(self.intensity)

    @property
    def start_s(self) -> int:
        return day_seconds(self.start)

    @property
    def end_s(self) -> int:
        """First second after the exported window."""
        return day_seconds(self.end + timedelta(days=1))

    @property
    def horizon_s(self) -> int:
        """First second after the simulated horizon."""
        return day_seconds(self.horizon_end + timedelta(days=1))

    @property
    def exported_days(self) -> int:
        return (self.end - self.start).days + 1

    def operational(self, day: np.ndarray) -> np.ndarray:
        """Cumulative intensity at fractional day offsets (negative offsets run at speed 1)."""
        day = np.asarray(day, dtype=float)
        inside = np.interp(day, np.arange(self.days + 1), self.cumulative)
        return np.where(day < 0, day, inside)

    def calendar_day(self, operational: np.ndarray) -> np.ndarray:
        """Inverse of `operational`: fractional day offsets (beyond the horizon: > days)."""
        operational = np.asarray(operational, dtype=float)
        inside = np.interp(operational, self.cumulative, np.arange(self.days + 1))
        beyond = self.days + (operational - self.cumulative[-1])
        return np.where(
            operational < 0, operational, np.where(operational > self.cumulative[-1], beyond, inside)
        )

    def seasonal_days(self, rng: np.random.Generator, size: int, first: float, last: float) -> np.ndarray:
        """Fractional days in [first, last) drawn in proportion to the seasonal intensity."""
        low, high = self.operational(np.array([first, last]))
        return self.calendar_day(rng.uniform(low, high, size))

    def timestamps(self, rng: np.random.Generator, day: np.ndarray, profile: str) -> np.ndarray:
        """Seconds for whole days `day` (offsets) at a time of day typical for `profile`."""
        hours = np.asarray(load_vocabulary().habits["hours"][profile], dtype=float)
        hour = choice_index(rng, hours, len(day))
        second = rng.integers(0, 3600, len(day))
        return self.start_s + np.floor(day).astype(np.int64) * DAY + hour * 3600 + second

    def retime(self, rng: np.random.Generator, seconds: np.ndarray, profile: str) -> np.ndarray:
        """Same days, at a time of day typical for `profile` (registrations, tickets, posts)."""
        day = np.floor((np.asarray(seconds) - self.start_s) / DAY)
        return self.timestamps(rng, day, profile)


def build_calendar(settings: GeneratorSettings) -> Calendar:
    """Daily intensity from weekends, shopping festivals and the Chinese New Year, normalised to mean 1."""
    season = settings.seasonality
    horizon_end = settings.end_date + timedelta(days=settings.increment_horizon_days)
    days = (horizon_end - settings.start_date).days + 1
    dates = [settings.start_date + timedelta(days=i) for i in range(days)]
    offsets = np.arange(days)
    weekday = np.array([d.weekday() for d in dates])
    intensity = np.where(weekday >= 5, season.weekend_lift, 1.0)
    online = np.zeros(days)
    years = range(settings.start_date.year, horizon_end.year + 1)
    for peak in season.peaks:
        month, day = (int(part) for part in peak.month_day.split("-"))
        for year in years:
            centre = (date(year, month, day) - settings.start_date).days
            ramp = np.clip(1 - (centre - offsets) / (peak.ramp_days + 1), 0, 1) * (offsets <= centre)
            ramp = ramp + 0.3 * (offsets == centre + 1)
            intensity = intensity * (1 + (peak.lift - 1) * ramp)
            online = online + peak.online_lift * ramp
    for festival in season.chinese_new_year:
        centre = (festival - settings.start_date).days
        before = (offsets < centre) & (offsets >= centre - season.new_year_shopping_days)
        holiday = (offsets >= centre) & (offsets < centre + season.new_year_holiday_days)
        intensity = intensity * np.where(before, season.new_year_shopping_lift, 1.0)
        intensity = intensity * np.where(holiday, season.new_year_holiday_lift, 1.0)
    exported = (settings.end_date - settings.start_date).days + 1
    intensity = intensity / intensity[:exported].mean()
    cumulative = np.concatenate([[0.0], np.cumsum(intensity)])
    return Calendar(
        start=settings.start_date,
        end=settings.end_date,
        horizon_end=horizon_end,
        intensity=intensity,
        online_boost=online,
        cumulative=cumulative,
    )


def to_datetime(seconds: int) -> datetime:
    return datetime(1970, 1, 1) + timedelta(seconds=int(seconds))
