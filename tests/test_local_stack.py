"""`facemood local up|status|down` as a user runs them, in a separate process."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import boto3
import numpy as np
import pytest
import yaml

from tests.conftest import csv_text

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_local_up_relays_events_and_status_and_down_work(tmp_path, fer2013):
    config = tmp_path / "config"
    shutil.copytree(REPO / "config", config)
    stack = yaml.safe_load((config / "stack.yaml").read_text())
    stack.update(port=0, relay_interval_seconds=0.2, seed_store=str(REPO))
    (config / "stack.yaml").write_text(yaml.safe_dump(stack))
    env = {**os.environ, "FACEMOOD_CONFIG_DIR": str(config), "FACEMOOD_STATE_FILE": str(tmp_path / "stack.json")}
    for name in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "FACEMOOD_RAW_BUCKET",
                 "FACEMOOD_REFINED_BUCKET", "FACEMOOD_MODEL_BUCKET", "FACEMOOD_MODEL_URI"):
        env.pop(name, None)
    facemood = [sys.executable, "-m", "cli"]

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*facemood, *args], env=env, capture_output=True, text=True, timeout=60, check=False)

    # pylint: disable-next=consider-using-with  # stopped by `local down` below, killed if that fails
    up = subprocess.Popen([*facemood, "local", "up"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True)
    try:
        deadline = time.monotonic() + 60
        while json.loads(cli("local", "status").stdout)["running"] is False:
            assert up.poll() is None and time.monotonic() < deadline, up.stderr.read() if up.poll() else "timeout"
            time.sleep(0.3)
        status = json.loads(cli("local", "status").stdout)
        assert set(status["buckets"]) == {"raw", "refined", "model"}
        if (REPO / "models" / "latest.json").exists():
            shipped = json.loads((REPO / "models" / "latest.json").read_text())
            assert status["latest_model"]["run_id"] == shipped["run_id"]
        s3 = boto3.client("s3", endpoint_url=status["endpoint"], region_name="us-east-1",
                          aws_access_key_id="local", aws_secret_access_key="local")
        index = np.arange(20)
        s3.put_object(Bucket="facemood-raw", Key="uploads/my data(1).csv",
                      Body=csv_text(fer2013["emotion"][index], fer2013["pixels"][index], fer2013["usage"][index]))
        deadline = time.monotonic() + 60
        while json.loads(cli("local", "status").stdout)["buckets"]["refined"]["objects"] < 2:
            assert time.monotonic() < deadline, "the relay delivered no event"
            time.sleep(0.3)
        # a command with no AWS settings of its own uses the running stack (it said "no AWS credentials")
        listed = cli("models", "list")
        assert listed.returncode == 0, listed.stderr
        if (REPO / "models" / "latest.json").exists():
            assert shipped["run_id"] in listed.stdout and "SERVED" in listed.stdout
        keys = json.loads(cli("local", "status").stdout)["buckets"]["refined"]["keys"]
        assert any(k.startswith("refined/uploads/my data(1).") and k.endswith(".report.json") for k in keys)
        down = cli("local", "down")
        if down.returncode:
            up.kill()
            pytest.fail(f"{down.stderr} / {up.communicate()}")
        assert down.returncode == 0 and down.stdout.strip() == "stopped"
        assert up.wait(timeout=20) == 0
        assert json.loads(cli("local", "status").stdout) == {"running": False}
    finally:
        if up.poll() is None:
            up.kill()


def test_sign_in_without_its_provider_installed_says_how_to_install_it_and_starts_nothing(tmp_path):
    """The demo without sign-in installs no OpenID Connect test provider (the `sign-in` extra)."""
    state = tmp_path / "stack.json"
    env = {**os.environ, "FACEMOOD_STATE_FILE": str(state)}
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", "import sys; sys.modules['oidc_provider_mock'] = None\n"
                           "from cli import main\nmain(['local', 'up', '--sign-in'])"],
                          env=env, cwd=REPO, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode != 0
    assert "make demo SIGN_IN=1" in done.stderr and "Traceback" not in done.stderr
    assert not state.exists() and time.monotonic() - started < 30
