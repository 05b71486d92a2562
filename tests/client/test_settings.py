"""The ``imip`` settings file: where it lives, what it may hold, and ``imip config``."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from imipd.cli import userconfig
from imipd.cli.imip import main


def test_path_follows_xdg_and_imip_config(monkeypatch: pytest.MonkeyPatch,
                                          tmp_path: Path) -> None:
    monkeypatch.delenv("IMIP_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert userconfig.default_path() == tmp_path / "imip" / "config.toml"
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert userconfig.default_path() == tmp_path / "home" / ".config" / "imip" / "config.toml"
    monkeypatch.setenv("IMIP_CONFIG", str(tmp_path / "other.toml"))
    assert userconfig.default_path() == tmp_path / "other.toml"


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "config.toml"
    assert userconfig.load(path) == {}
    settings = {"server": "im.example.org:11319", "user": 'Zoë "z"'}
    userconfig.save(path, settings)
    assert userconfig.load(path) == settings


@pytest.mark.parametrize(("text", "words"), [
    ('password = "secret"\n', "unknown key 'password'"),
    ("server = 11319\n", "server must be a string"),
    ("server = \n", "config.toml"),
])
def test_a_bad_file_names_the_problem(tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(userconfig.UserConfigError, match=words):
        userconfig.load(path)


def test_imip_config_shows_and_writes(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    runner = CliRunner()
    shown = runner.invoke(main, ["--config", str(path), "config"], env={"IMIP_CONFIG": None})
    assert shown.exit_code == 0
    assert shown.output == f'# {path} (not written yet)\nserver = ""\nuser = ""\n'
    saved = runner.invoke(main, ["--config", str(path), "config", "--server", "example.org"])
    assert saved.exit_code == 0 and path.exists()
    shown = runner.invoke(main, ["--config", str(path), "config"])
    assert shown.output == f'# {path}\nserver = "example.org"\nuser = ""\n'
    # what it shows can be pasted into the file
    assert tomllib.loads(shown.output) == {"server": "example.org", "user": ""}
    bad = runner.invoke(main, ["--config", str(path), "config", "--server", "host:99999"])
    assert (bad.exit_code, bad.output) == (2, "Error: Invalid value for '--server': bad server "
                                              "address 'host:99999': the port must be 1-65535\n")
    assert tomllib.loads(path.read_text()) == {"server": "example.org"}  # left as it was


def test_a_broken_file_stops_send_but_not_decode(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("nonsense = 1\n")
    runner = CliRunner()
    refused = runner.invoke(main, ["--config", str(path), "send", "bob", "hi"])
    assert refused.exit_code == 2 and "unknown key 'nonsense'" in refused.output
    decoded = runner.invoke(main, ["--config", str(path), "decode", "-"], input=b"")
    assert decoded.exit_code == 0
