"""Configuration: one TOML file, validated at start, plus environment overrides."""

from config.settings import (
    ConfigError,
    FeedSettings,
    FetchSettings,
    FilterRules,
    HttpSettings,
    ScheduleSettings,
    Settings,
    StorageSettings,
    load_settings,
)

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
