"""Configuration: one TOML file, validated at start, plus environment overrides."""

from config.loading import load_settings
from config.settings import (
    FeedSettings,
    FetchSettings,
    FilterRules,
    HttpSettings,
    ScheduleSettings,
    Settings,
    StorageSettings,
)
from config.sources import ConfigError

__all__ = [
    "ConfigError",
    "FeedSettings",
    "FetchSettings",
    "FilterRules",
    "HttpSettings",
    "ScheduleSettings",
    "Settings",
    "StorageSettings",
    "load_settings",
]
