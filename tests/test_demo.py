"""`facemood demo --sign-in` as a user runs it: a taken app port, what to type to sign in, stopping it
with `kill`, ports reused."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
import yaml

from facemood.config import CONFIG_DIR, REPO_ROOT
from local_stack.s3_server import port_is_free


def test_a_port_whose_last_connection_lingers_in_time_wait_counts_as_free():
    with socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port))
        accepted, _ = server.accept()
        accepted.close()  # the server side closes first: its port is left in TIME_WAIT
        client.close()
    assert port_is_free("127.0.0.1", port)


def read_until(process: subprocess.Popen, text: str, timeout: float = 90) -> list[str]:
    """The demo's output lines up to the first one holding ``text``."""
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            pytest.fail(f"the demo exited: {''.join(lines)}")
        lines.append(line)
        if text in line:
            return lines
    pytest.fail(f"no {text!r} within {timeout} s: {''.join(lines)}")
    return lines


@pytest.mark.slow
def test_demo_moves_off_a_taken_port_and_kill_stops_the_app_too(tmp_path):
    config = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, config)
    stack = yaml.safe_load((config / "stack.yaml").read_text())
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        stack.update(port=0, app_port=taken, seed_store=str(REPO_ROOT))
        (config / "stack.yaml").write_text(yaml.safe_dump(stack))
        env = {**os.environ, "FACEMOOD_CONFIG_DIR": str(config), "FACEMOOD_STATE_FILE": str(tmp_path / "stack.json")}
        # started as nohup or `&` in a script start it: SIGINT ignored, inherited through exec
        command = ["sh", "-c", "trap '' INT; exec \"$0\" \"$@\"", sys.executable, "-m", "cli", "demo", "--sign-in"]
        # pylint: disable-next=consider-using-with  # stopped with SIGTERM below, killed if that fails
        demo = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            lines = read_until(demo, 'as "sub"')  # signing in: what to type on the provider's bare page
            said = "".join(lines)
            assert 'type any name as "sub" (for example alice' in said
            # the placeholder campus entry is hidden from students, and the demo says so
            assert "Note: hidden from students until config/app.yaml is filled in" in said
            assert f"port {taken} is taken by another program" in said
            url = said.split("serving at ")[1].split()[0]
            assert url != f"http://localhost:{taken}"
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=5) as reply:
                assert reply.status == 200
            assert (tmp_path / "app.log").exists()  # the app's output goes to a file, not a pipe
            demo.send_signal(signal.SIGTERM)
            assert demo.wait(timeout=30) == 0
            port = int(url.rsplit(":", 1)[1])
            deadline = time.monotonic() + 10
            while not port_is_free("127.0.0.1", port):  # the app went with the demo
                assert time.monotonic() < deadline, "the app outlived the demo"
                time.sleep(0.2)
        finally:
            if demo.poll() is None:
                demo.kill()
