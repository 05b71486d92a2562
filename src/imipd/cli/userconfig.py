"""The ``imip`` settings file, so that a person types the server and user name once.

``$XDG_CONFIG_HOME/imip/config.toml`` (or ``~/.config/imip/config.toml``; the
``--config`` option or ``$IMIP_CONFIG`` names another file) holds two keys::

    server = "im.example.org:11319"
    user = "alice"

They become the defaults of ``--server`` and ``--user``; a flag or the environment
(``IMIP_SERVER``, ``IMIP_USER``) still wins. The password is never stored here.
"""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path

KEYS = ("server", "user")


class UserConfigError(Exception):
    """The settings file cannot be read or holds a wrong key; the message says which."""


def user_problem(name: str) -> str | None:
    """Why ``name`` cannot be a user name on the wire (None when it can)."""
    if any(ch.isspace() or not ch.isprintable() for ch in name):
        return f"{name!r}: a user name has no spaces or control characters"
    return None


def default_path() -> Path:
    """``$IMIP_CONFIG``, else ``$XDG_CONFIG_HOME/imip/config.toml``, else under ``~/.config``."""
    explicit = os.environ.get("IMIP_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "imip" / "config.toml"


def load(path: Path) -> dict[str, str]:
    """The settings in ``path`` (empty when the file does not exist)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as error:
        raise UserConfigError(f"cannot read {path}: {error.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise UserConfigError(f"{path}: {error}") from None
    settings: dict[str, str] = {}
    for key, value in data.items():
        if key not in KEYS:
            raise UserConfigError(f"{path}: unknown key {key!r} (known: {', '.join(KEYS)})")
        if not isinstance(value, str):
            raise UserConfigError(f"{path}: {key} must be a string")
        settings[key] = value
    return settings


def save(path: Path, settings: dict[str, str]) -> None:
    """Write ``settings`` to ``path`` (creating its folder)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["# imip settings: defaults for --server and --user (see docs/client.md)"]
    lines += [f"{key} = {toml_string(settings[key])}" for key in KEYS if settings.get(key)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def toml_string(value: str) -> str:
    """``value`` as a TOML string, as this file holds it (``""`` when empty)."""
    # a JSON string is a valid TOML basic string for every value a person types here
    return json.dumps(value, ensure_ascii=False)
