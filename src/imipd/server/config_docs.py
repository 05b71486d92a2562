"""The commented example config and the configuration reference, generated.

Both come from the one definition in ``config``, so they cannot drift: a test
compares the committed ``imipd.toml.example`` and ``docs/configuration.md``
with what these functions produce (``make docs`` rewrites them).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from .config import default_text, fields


def _default_text(f: dataclasses.Field[Any]) -> str:
    if "default_text" in f.metadata:
        return f'"{default_text(f)}"' if f.name == "data_dir" else f"({default_text(f)})"
    value = f.default
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return f'"{value}"'


def _bounds(f: dataclasses.Field[Any]) -> str:
    meta = f.metadata
    if meta.get("choices"):
        return "one of " + ", ".join(f"`{c}`" for c in meta["choices"])
    if meta.get("lo") is not None:
        return f"{meta['lo']} to {meta['hi']}"
    return ""


def example_toml() -> str:
    """``imipd.toml.example``: every option, commented out at its default."""
    out = [
        "# imipd configuration: pass it with `imipd serve --config imipd.toml`.",
        "# Every option is shown at its default. Precedence: defaults < this file <",
        "# environment (IMIPD_<OPTION>) < command-line flags (--option-name).",
        "# Generated from the config definition (`imipd config example`).",
        "",
    ]
    for f in fields():
        out.append(f"# {f.metadata.get('help', '')}")
        if bounds := _bounds(f):
            out.append(f"# ({bounds})")
        out.append(f"# {f.name} = {_default_text(f)}")
        out.append("")
    return "\n".join(out)


def reference_markdown() -> str:
    """``docs/configuration.md``: the table of every option."""
    out = [
        "# Configuration reference",
        "",
        "Generated from the config definition (`src/imipd/server/config.py`); do not edit by",
        "hand: run `make docs`.",
        "",
        "Each option can be set in a TOML file (`imipd serve --config FILE`, keys as below),",
        "in the environment as `IMIPD_<OPTION>` (upper case), or as a flag `--option-name`;",
        "later sources win in that order. `imipd config show` prints every effective value",
        "and where it came from. A bad value stops the server at start with a message naming",
        "the option.",
        "",
        "| option | flag | default | allowed | meaning |",
        "|---|---|---|---|---|",
    ]
    for f in fields():
        flag = "--" + f.name.replace("_", "-")
        meaning = str(f.metadata.get("help", "")).replace("|", "\\|")
        out.append(f"| `{f.name}` | `{flag}` | `{_default_text(f)}` | {_bounds(f)} | {meaning} |")
    return "\n".join(out) + "\n"


GENERATED = {
    Path("imipd.toml.example"): example_toml,
    Path("docs/configuration.md"): reference_markdown,
}
"""Files under the project root that are generated, and what generates them."""
