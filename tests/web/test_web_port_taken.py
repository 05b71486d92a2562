"""Starting with the web port taken: one clear line saying which listener and how to move it."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

from tests.server.imipd_process import IMIPD


def test_web_port_taken_names_the_listener_and_the_way_out(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [IMIPD, "serve", "--data-dir", str(tmp_path / "data"), "--listen", "127.0.0.1:0",
             "--web", f"127.0.0.1:{port}"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last == (
        f"Error: cannot start: the web side cannot listen on 127.0.0.1:{port}: Address already "
        "in use (another program, or another imipd, has it). Move it with --web HOST:PORT "
        f"(e.g. --web 127.0.0.1:{port + 1}; with make: "
        f"make run ARGS='--web 127.0.0.1:{port + 1}'), "
        "or turn it off with --web off (in the config file: web = \"HOST:PORT\" or \"off\"; "
        "environment: IMIPD_WEB).")
