"""The launcher turns streamlit_config/ into Streamlit flags (python -m app)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from streamlit import config as streamlit_config

from app.launcher import (
    CONFIG_FILE,
    MAIN_SCRIPT,
    LauncherError,
    env_var_for,
    read_config,
    streamlit_command,
)

MIB = 1024 * 1024


def command(tmp_path: Path, *extra: str, environ: dict[str, str] | None = None, max_upload_bytes: int = 200 * MIB) -> list[str]:
    """The launch command with the real config.toml and a secrets file location under tmp_path."""
    return streamlit_command(
        list(extra),
        environ=environ or {},
        max_upload_bytes=max_upload_bytes,
        secrets_file=tmp_path / "secrets.toml",
    )


def test_runs_the_entry_script_with_this_python(tmp_path):
    argv = command(tmp_path)
    assert argv[:5] == [sys.executable, "-m", "streamlit", "run", str(MAIN_SCRIPT)]


def test_config_file_sets_headless_xsrf_and_no_usage_stats(tmp_path):
    argv = command(tmp_path)
    for flag in (
        "--server.headless=true",
        "--server.enableXsrfProtection=true",
        "--browser.gatherUsageStats=false",
        "--server.port=8501",
        "--client.showErrorDetails=none",
        "--server.address=127.0.0.1",
    ):
        assert flag in argv


def test_every_option_in_config_toml_is_a_streamlit_option():
    known = set(streamlit_config.get_config_options())
    assert set(read_config(CONFIG_FILE)) <= known


def test_env_var_names_match_streamlits():
    options = streamlit_config.get_config_options()
    for key in [*read_config(CONFIG_FILE), "secrets.files"]:
        assert env_var_for(key) == options[key].env_var


def test_upload_cap_follows_doppel_max_upload_bytes_rounded_up_to_megabytes(tmp_path):
    argv = command(tmp_path, max_upload_bytes=50 * MIB + 1)
    assert "--server.maxUploadSize=51" in argv
    assert not any(arg.startswith("--server.maxUploadSize=200") for arg in argv)


def test_secrets_file_is_passed_when_present(tmp_path):
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('[demo]\nword = "hello"\n')
    assert f"--secrets.files={secrets}" in command(tmp_path)


def test_no_secrets_flag_without_a_secrets_file(tmp_path):
    assert not any(arg.startswith("--secrets.files") for arg in command(tmp_path))


def test_malformed_secrets_file_stops_the_launch_naming_the_file(tmp_path):
    secrets = tmp_path / "secrets.toml"
    secrets.write_text("[auth\nclient_id = 1\n")
    with pytest.raises(LauncherError, match="secrets.toml is not valid TOML"):
        command(tmp_path)


def test_flags_given_to_the_launcher_replace_the_config_file(tmp_path):
    argv = command(tmp_path, "--server.port", "8600")
    assert "--server.port=8501" not in argv
    assert argv[-2:] == ["--server.port", "8600"]


def test_streamlit_environment_variables_win_over_the_config_file(tmp_path):
    secrets = tmp_path / "secrets.toml"
    secrets.write_text("")
    argv = command(
        tmp_path, environ={"STREAMLIT_SERVER_PORT": "8700", "STREAMLIT_SECRETS_FILES": "/run/secrets/doppel.toml"}
    )
    assert not any(arg.startswith(("--server.port", "--secrets.files")) for arg in argv)


def test_option_outside_a_section_is_refused(tmp_path):
    bad = tmp_path / "config.toml"
    bad.write_text("port = 8501\n")
    with pytest.raises(LauncherError, match="must sit inside a \\[section\\]"):
        read_config(bad)
