"""Settings: environment over wics.toml over the defaults, clear errors, `wics config`."""

from __future__ import annotations

from datetime import date

import pytest
from test_cli import lines, wics

from pipelines.settings import ConfigError, Settings, describe_settings, get_settings


def test_environment_wins_over_toml_which_wins_over_defaults(wics_home, monkeypatch):
    wics_home.toml_file.write_text(
        'max_file_mb = 256\ntolerance_a = 0.5\ncounters = ["ANA", "BEN"]\n'
        "holidays = [2026-12-24, 2026-12-25]\ntimezone = \"Europe/Berlin\"\n")
    monkeypatch.setenv("WICS_MAX_FILE_MB", "512")
    settings = get_settings()
    assert settings.max_file_mb == 512  # environment over the file
    assert settings.timezone == "Europe/Berlin"  # the file over the default
    assert settings.max_inflated_mb == 4096  # the default
    assert settings.counting.tolerance_for("A") == 0.5
    assert settings.counting.counters == ("ANA", "BEN")
    assert settings.counting.holidays == {date(2026, 12, 24), date(2026, 12, 25)}
    origins = {name: origin for name, _, origin in describe_settings(settings)}
    assert origins["WICS_MAX_FILE_MB"] == "environment variable WICS_MAX_FILE_MB"
    assert origins["WICS_TIMEZONE"] == str(wics_home.toml_file)
    assert origins["WICS_MAX_INFLATED_MB"] == "default"


def test_counting_values_read_like_before(wics_home, monkeypatch):
    monkeypatch.setenv("WICS_TOLERANCE_C", "2,5")  # a decimal comma
    monkeypatch.setenv("WICS_COUNTS_PER_YEAR_C", "2")
    monkeypatch.setenv("WICS_COUNTERS", " ANA, ,BEN,ANA ")
    monkeypatch.setenv("WICS_SKIP_ZERO_STOCK", "yes")
    monkeypatch.setenv("WICS_STOCK_BASIS", "")  # empty is unset
    config = get_settings().counting
    assert config.tolerance_other_pct == 2.5  # others follow C unless set
    assert config.counts_per_year_other == 2
    assert config.counters == ("ANA", "BEN")
    assert config.skip_zero_stock is True
    assert config.stock_basis_name == "physical"


@pytest.mark.parametrize(("variable", "value", "message"), [
    ("WICS_TOLERANCE_B", "three", "valid number"),
    ("WICS_DAILY_CAP_PER_COUNTER", "0", "greater than or equal to 1"),
    ("WICS_TIMEZONE", "Mars/Olympus", "IANA time zone"),
    ("WICS_BACKUP_CRON", "every sunday", "cron expression"),
    ("WICS_MATERIAL_NUMBERS", "numeric", "alpha"),
    ("WICS_STOCK_BASIS", "unrestricted; DROP TABLE sap_stock", "use physical"),
    ("WICS_HOLIDAYS", "24.12.2026,2026-12-31", "not an ISO date"),
])
def test_a_bad_value_names_the_variable(wics_home, monkeypatch, variable, value, message):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=variable) as error:
        get_settings()
    assert message in str(error.value)
    assert "environment variable" in str(error.value)


def test_a_bad_toml_names_the_file_and_the_key(wics_home):
    wics_home.toml_file.write_text("backups_keep = 0\n")
    with pytest.raises(ConfigError, match="WICS_BACKUPS_KEEP") as error:
        get_settings()
    assert str(wics_home.toml_file) in str(error.value)
    wics_home.toml_file.write_text("max_fille_mb = 3\n")
    with pytest.raises(ConfigError, match="unknown setting 'max_fille_mb'"):
        get_settings()
    wics_home.toml_file.write_text("max_file_mb = \n")
    with pytest.raises(ConfigError, match="wics.toml"):
        get_settings()
    wics_home.toml_file.write_text('home = "/elsewhere"\n')
    with pytest.raises(ConfigError, match="WICS_HOME"):
        get_settings()


def test_nothing_is_read_at_import_and_each_call_reads_afresh(wics_home, monkeypatch):
    monkeypatch.setenv("WICS_BACKUPS_KEEP", "3")
    assert get_settings().backups_keep == 3
    monkeypatch.setenv("WICS_BACKUPS_KEEP", "4")
    assert get_settings().backups_keep == 4
    assert get_settings(home=wics_home.home / "other").database == \
        wics_home.home / "other" / "wics.duckdb"
    assert Settings.model_fields["backups_keep"].default == 8


@pytest.mark.slow
def test_wics_config_prints_values_and_origins(wics_home, tmp_path):
    wics_home.toml_file.write_text("sensor_interval_seconds = 30\n")
    done = wics("config", home=wics_home.home)
    assert done.returncode == 0, done.stdout + done.stderr
    out = lines(done.stdout)
    assert f"WICS_HOME {wics_home.home} environment variable WICS_HOME" in out
    assert f"WICS_SENSOR_INTERVAL_SECONDS 30 {wics_home.toml_file}" in out
    assert "WICS_BACKUPS_KEEP 8 default" in out
    assert "WICS_STOCK_BASIS physical default" in out
    wics_home.toml_file.write_text("sensor_interval_seconds = -1\n")
    bad = wics("config", home=wics_home.home)
    assert bad.returncode == 2
    assert "WICS_SENSOR_INTERVAL_SECONDS" in bad.stdout
