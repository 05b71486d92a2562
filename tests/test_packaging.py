"""What ships beside the code: the Makefile's run target and the systemd unit."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from imipd.cli import manpages

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "contrib" / "systemd" / "imipd.service"


def test_make_run_installs_only_what_imipd_needs_to_run(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    planned = subprocess.run(["make", "-n", "run", f"VENV={venv}"], cwd=ROOT, capture_output=True,
                             text=True, check=True).stdout
    installs = [line for line in planned.splitlines() if " install " in line]
    assert installs == [f"{venv}/bin/pip install --quiet --upgrade pip",
                        f"{venv}/bin/pip install --quiet -e ."]


def test_the_systemd_unit_verifies_with_its_manual_page(tmp_path: Path) -> None:
    """``systemd-analyze verify`` on a copy of the unit that runs this checkout's imipd, with
    the manual pages where ``man`` looks (as ``make docs`` writes them and an install puts
    them in /usr/local/share/man)."""
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is missing: install Debian's systemd package"
    imipd = Path(sys.executable).with_name("imipd")
    unit = tmp_path / "imipd.service"
    unit.write_text(UNIT.read_text().replace("/opt/imipd/bin/imipd", str(imipd)))
    pages = tmp_path / "man" / "man1"
    pages.mkdir(parents=True)
    for relative, render in manpages.GENERATED.items():
        (pages / relative.name).write_text(render())
    done = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True,
                          env={**os.environ, "MANPATH": str(tmp_path / "man")}, timeout=60,
                          check=False)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
