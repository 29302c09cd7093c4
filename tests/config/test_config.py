"""Configuration is validated at start, with errors that name the bad key."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.loading import load_settings, parse_settings, resolve_config_path
from config.sources import ConfigError

REPO = Path(__file__).resolve().parents[2]


def _feeds(*urls: str) -> dict[str, object]:
    return {"feeds": [{"name": f"feed{i}", "url": url} for i, url in enumerate(urls)]}


def test_example_config_is_valid_and_lists_the_azerbaijani_feeds() -> None:
    settings = load_settings(REPO / "config" / "source-ingest.toml", {})
    urls = {feed.url for feed in settings.feeds}
    assert {"https://report.az/en/rss/", "https://en.trend.az/feeds/index.rss",
            "https://apa.az/en/rss"} <= urls
    assert settings.filters.include, "the example shows a topic filter"
    assert settings.storage.corpus_dir == Path("seeds")


def test_bad_feed_url_names_the_key() -> None:
    with pytest.raises(ConfigError, match=r"^feeds\[2\]\.url: not an http\(s\) URL$"):
        parse_settings(_feeds("https://a.example/", "https://b.example/", "ftp://c.example/"),
                       {})


@pytest.mark.parametrize(("raw", "message"), [
    ({"fetch": {"max_concurrency": 0}}, "fetch.max_concurrency: must be greater than 0"),
    ({"fetch": {"retries": "two"}}, "fetch.retries: must be an integer"),
    ({"schedule": {"jitter": 5}}, "schedule.jitter: unknown key"),
    ({"filters": {"include": ["re:("]}}, r"filters.include\[0\]: invalid regular expression"),
    ({"feeds": [{"url": "https://a.example/"}]}, r"feeds\[0\].name: missing"),
    ({"feeds": [{"name": "a", "url": "https://a.example/"},
                {"name": "a", "url": "https://b.example/"}]}, "duplicate feed name"),
    ({"storage": {"database_url": "index.db"}}, "storage.database_url: not an SQLAlchemy URL"),
    ({"dedupe": {"near_duplicate_threshold": 1.5}}, "dedupe.near_duplicate_threshold"),
    ({"http": {"per_feed_metrics_limit": -1}}, "http.per_feed_metrics_limit: must be 0 or more"),
    ({"limits": {"extraction_workers": 0}}, "limits.extraction_workers: must be greater than 0"),
    ({"limits": {"extraction_workers": 1.5}}, "limits.extraction_workers: must be an integer"),
])
def test_invalid_values_are_reported_with_their_key(raw: dict[str, object],
                                                    message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_settings(raw, {})


def test_environment_overrides_database_and_corpus_for_containers() -> None:
    settings = parse_settings(_feeds("https://a.example/"), {
        "SOURCE_INGEST_DATABASE_URL": "postgresql+psycopg://u:secret@db/ingest",
        "SOURCE_INGEST_CORPUS_DIR": "/data/seeds"})
    assert settings.storage.database_url == "postgresql+psycopg://u:secret@db/ingest"
    assert settings.storage.corpus_dir == Path("/data/seeds")


def test_feed_interval_defaults_to_fifteen_minutes() -> None:
    settings = parse_settings(_feeds("https://a.example/"), {})
    assert settings.feeds[0].interval_seconds == 900


def test_missing_and_malformed_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="configuration file not found"):
        load_settings(tmp_path / "absent.toml", {})
    broken = tmp_path / "broken.toml"
    broken.write_text("[feeds\nname=", encoding="utf-8")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_settings(broken, {})


def test_config_path_from_flag_then_environment_then_default() -> None:
    assert resolve_config_path("x.toml", {"SOURCE_INGEST_CONFIG": "y.toml"}) == Path("x.toml")
    assert resolve_config_path(None, {"SOURCE_INGEST_CONFIG": "y.toml"}) == Path("y.toml")
    assert resolve_config_path(None, {}) == Path("config/source-ingest.toml")


def test_changing_a_feed_changes_its_fingerprint() -> None:
    first = parse_settings(_feeds("https://a.example/"), {}).feeds[0]
    second = parse_settings(_feeds("https://a.example/other"), {}).feeds[0]
    assert first.config_fingerprint != second.config_fingerprint


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_sources_can_live_in_included_files_and_folders(tmp_path: Path) -> None:
    _write(tmp_path / "sources" / "b.toml",
           '[[feeds]]\nname = "b"\nurl = "https://b.example/rss"\n')
    _write(tmp_path / "sources" / "a.toml",
           '[[feeds]]\nname = "a"\nurl = "https://a.example/rss"\ninterval_minutes = 5\n')
    _write(tmp_path / "one.toml", '[[feeds]]\nname = "c"\nurl = "https://c.example/rss"\n')
    config = _write(tmp_path / "conf" / "main.toml",
                    'include = ["../sources", "../one.toml"]\n'
                    '[[feeds]]\nname = "main"\nurl = "https://m.example/rss"\n')
    settings = load_settings(config, {})
    assert [feed.name for feed in settings.feeds] == ["main", "a", "b", "c"]
    assert settings.feed("a").interval_seconds == 300


@pytest.mark.parametrize(("included", "message"), [
    ('[[feeds]]\nname = "main"\nurl = "https://x.example/"\n',
     r"sources/x.toml: feeds\[0\].name: duplicate feed name 'main'"),
    ('[[feeds]]\nname = "x"\nurl = "ftp://x.example/"\n',
     r"sources/x.toml: feeds\[0\].url: not an http\(s\) URL"),
    ('[fetch]\nretries = 1\n', r"sources/x.toml: fetch: unknown key"),
    ('[[feeds]\n', r"sources/x.toml: invalid TOML"),
])
def test_an_error_in_an_included_file_names_that_file(tmp_path: Path, included: str,
                                                      message: str) -> None:
    _write(tmp_path / "sources" / "x.toml", included)
    config = _write(tmp_path / "main.toml", 'include = ["sources"]\n'
                    '[[feeds]]\nname = "main"\nurl = "https://m.example/rss"\n')
    with pytest.raises(ConfigError, match=message):
        load_settings(config, {})


def test_an_include_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    config = _write(tmp_path / "main.toml", 'include = ["nowhere"]\n')
    with pytest.raises(ConfigError, match=r"include\[0\]: nowhere: no such file or folder"):
        load_settings(config, {})
