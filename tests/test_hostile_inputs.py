"""Poison files through the augmentation step's real entry points (the CLI and the Lambda handler
against the moto server), and a model store that hangs under the serving cache."""
# pytest fixtures are parameters named like the fixture functions
# pylint: disable=redefined-outer-name

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import sys
import threading
from dataclasses import replace

import numpy as np
import pytest
from click.testing import CliRunner

from cli import cli
from facemood import aws, bundle, storage
from facemood.model_cache import REFRESH_THREAD, ModelCache
from lambdas import augment as augment_lambda
from tests.conftest import REPO_ROOT, csv_text
from tests.faults import silent_port
from tests.test_augment_lambda import LABELS, PIXELS, RAW, REFINED, SETTINGS, event_for, keys, read_report, upload


@pytest.fixture
def buckets(s3):
    """The raw and refined buckets on the moto server."""
    for name in (RAW, REFINED):
        s3.create_bucket(Bucket=name)
    return s3


ROWS = csv_text(np.resize(LABELS, 160), np.resize(PIXELS, (160, 48, 48)), None, header="emotion,pixels")


def test_a_pixel_of_thousands_of_digits_is_a_rejected_row(tmp_path):
    lines = ROWS.splitlines()
    lines[3] = lines[3].replace(",", "," + "9" * 5000 + " ", 1)
    source = tmp_path / "big-token.csv"
    source.write_text("\n".join(lines) + "\n")
    result = CliRunner().invoke(cli, ["augment", str(source), str(tmp_path / "out.csv.gz")])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["rows_valid"] == 159 and report["rejected"] == [
        {"line": 4, "reason": "pixel 1 has 5000 digits, outside 0..255"}]


def test_each_record_of_an_event_fails_on_its_own(buckets):
    s3 = buckets
    lines = ROWS.splitlines()
    lines[2] = lines[2].replace(",", "," + "7" * 5000 + " ", 1)
    event = {"Records": []}
    for name, body in (("poison.csv", "\n".join(lines) + "\n"), ("good.csv", ROWS)):
        event["Records"] += event_for(name, upload(s3, name, body.encode()))["Records"]
    result = augment_lambda.handler(event, None, client=s3, settings=SETTINGS)
    assert [r["status"] for r in result["results"]] == ["complete", "complete"]
    assert len(keys(s3, REFINED)) == 4  # both refined files and both reports


def latin1_file(tmp_path):
    """160 rows; line 151 holds one Latin-1 byte (0xE9) in its pixels field."""
    lines = ROWS.encode().split(b"\n")
    lines[150] = lines[150].replace(b" 1", b" \xe91", 1) if b" 1" in lines[150] else lines[150] + b"\xe9"
    path = tmp_path / "latin1.csv"
    path.write_bytes(b"\n".join(lines))
    return path


def test_a_latin1_byte_rejects_its_row_and_names_the_line(tmp_path):
    result = CliRunner().invoke(cli, ["augment", str(latin1_file(tmp_path)), str(tmp_path / "out.csv.gz")])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["rows_valid"] == 159
    assert report["rejected"][0]["line"] == 151
    assert "byte 0xE9 in field 2 is not UTF-8" in report["rejected"][0]["reason"]


def test_evaluate_names_the_line_of_a_latin1_byte(tmp_path):
    result = CliRunner().invoke(cli, ["evaluate", "--model", str(REPO_ROOT), str(latin1_file(tmp_path))])
    assert result.exit_code == 1  # it called the file "binary"
    assert result.stderr.strip().startswith("Error: line 151: byte 0xE9 in field 2 is not UTF-8")


def test_config_can_refuse_a_file_with_bytes_that_are_not_utf8(tmp_path):
    config = tmp_path / "augment.yaml"
    config.write_text(f"extends: {REPO_ROOT / 'config' / 'augment.yaml'}\nlimits: {{non_utf8: refuse_file}}\n")
    result = CliRunner().invoke(cli, ["augment", str(latin1_file(tmp_path)), str(tmp_path / "out.csv.gz"),
                                      "--config", str(config)])
    assert result.exit_code == 1
    assert "Error: line 151: byte 0xE9 in field 2 is not UTF-8" in result.stderr
    assert not (tmp_path / "out.csv.gz").exists()


@pytest.mark.parametrize(("content", "message"), [
    (b"\0", "line 2 is longer than 64 KiB"),
    (b" ", "line 2 is longer than 64 KiB"),
    (b"\n", "more than 0.25 MiB of text once decompressed"),
])
def test_a_gzip_bomb_is_refused_while_it_streams(buckets, content, message):
    s3 = buckets
    # a valid header, then 8 MiB of one byte: about 8 KiB stored
    bomb = gzip.compress(b"emotion,pixels\n" + content * (8 * 1024 * 1024), compresslevel=1)
    # a small limit: each blank line is a rejected row, and a quarter of a million of them prove the point
    settings = replace(SETTINGS, limits=replace(SETTINGS.limits, max_text_mib=0.25))
    etag = upload(s3, "bomb.csv.gz", bomb)
    result = augment_lambda.handler(event_for("bomb.csv.gz", etag), None, client=s3, settings=settings)
    assert result["results"][0]["status"] == "invalid_file"
    report = read_report(s3, [k for k in keys(s3, REFINED) if k.endswith(".report.json")][0])
    assert message in report["error"]
    assert not [k for k in keys(s3, REFINED) if k.endswith(".csv.gz")]


def test_augment_into_a_path_under_a_file_is_one_error_line(tmp_path):
    good = tmp_path / "good.csv"
    good.write_text(ROWS)
    result = CliRunner().invoke(cli, ["augment", str(good), str(good / "out.csv.gz")])
    assert result.exit_code == 1
    assert result.stderr.strip() == f"Error: cannot write {good / 'out.csv.gz'}: {good} is a file, not a folder"


@pytest.mark.parametrize("target", ["same.csv", "./same.csv", "link.csv"])
def test_augment_refuses_to_write_over_its_own_input(tmp_path, monkeypatch, target):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "same.csv").write_text(ROWS)
    (tmp_path / "link.csv").symlink_to(tmp_path / "same.csv")
    result = CliRunner().invoke(cli, ["augment", "same.csv", target])
    assert result.exit_code == 1  # it was 0, with the original data gone
    assert result.stderr.strip() == f"Error: the output {target} is the input same.csv: name another file " \
                                    "(the input is kept)"
    assert (tmp_path / "same.csv").read_text() == ROWS


def test_a_hung_store_never_holds_a_check_in(s3, tmp_path, monkeypatch):
    s3.create_bucket(Bucket="models")
    source = REPO_ROOT / bundle.read_latest(str(REPO_ROOT))["bundle"]
    run_id = bundle.read_latest(str(REPO_ROOT))["run_id"]
    for path in sorted(source.iterdir()):
        s3.upload_file(str(path), "models", f"models/{run_id}/{path.name}")
    bundle.point_latest("s3://models", run_id, s3)
    cache = ModelCache("s3://models", refresh_seconds=0.0, client=s3)
    assert cache.current().run_id == run_id
    config = tmp_path / "config"
    config.mkdir()
    (config / "aws.yaml").write_text("connect_timeout_s: 1\nread_timeout_s: 2\nmax_attempts: 1\n")
    monkeypatch.setenv("FACEMOOD_CONFIG_DIR", str(config))
    aws.aws_client_settings.cache_clear()
    with silent_port() as silent:  # the store accepts connections and never answers
        try:
            cache.client = storage.s3_client(endpoint_url=f"http://127.0.0.1:{silent.port}")
        finally:
            aws.aws_client_settings.cache_clear()
        # the check-in that finds the refresh due is served the verified model, not held: it waited ~31 s
        assert cache.current().run_id == run_id
        refreshing = [t for t in threading.enumerate() if t.name == REFRESH_THREAD]
        assert len(refreshing) == 1 and refreshing[0].is_alive()  # still waiting on the hung store, alone
        assert cache.current().run_id == run_id  # the next one too, with no second refresh started
        assert len([t for t in threading.enumerate() if t.name == REFRESH_THREAD]) == 1
        refreshing[0].join(timeout=30)
    assert not refreshing[0].is_alive()  # the read timeout ended the refresh; the last model still serves
    assert cache.current().run_id == run_id
    for thread in [t for t in threading.enumerate() if t.name == REFRESH_THREAD]:  # the refresh that call began:
        thread.join(timeout=30)  # ended here, not in a later test


@pytest.mark.parametrize(("variable", "value", "said"), [
    ("AWS_ENDPOINT_URL", "not-a-url",
     "Error: the AWS endpoint 'not-a-url' (AWS_ENDPOINT_URL or the stack's) is not a URL"),
    ("AWS_DEFAULT_REGION", "bad region!",
     "Error: the AWS region 'bad region!' (AWS_DEFAULT_REGION) is not a region name"),
])
def test_aws_settings_that_cannot_work_are_one_error_line(monkeypatch, variable, value, said):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    monkeypatch.setenv(variable, value)
    result = CliRunner().invoke(cli, ["models", "list", "--store", "s3://facemood-models"])
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]  # other threads may log
    assert result.exit_code == 1 and len(errors) == 1 and errors[0].startswith(said), result.stderr


def test_a_config_file_with_a_byte_that_is_not_utf8_is_one_error_line(tmp_path, monkeypatch):
    config = tmp_path / "config"
    shutil.copytree(REPO_ROOT / "config", config)
    (config / "app.yaml").write_bytes((config / "app.yaml").read_bytes().replace(b"emergency", b"emerg\xe9ncy", 1))
    monkeypatch.setenv("FACEMOOD_CONFIG_DIR", str(config))
    result = CliRunner().invoke(cli, ["check-config"])
    assert result.exit_code == 1
    assert "app.yaml: byte 0xE9 at offset" in result.stderr and "is not UTF-8" in result.stderr


def test_training_without_the_train_extra_says_which_to_install():
    """Run where torch cannot be imported (a venv with the app extra only): the command says which extra."""
    blocker = "import sys; sys.modules['torch'] = None; from cli import main; main(['train', '--dry-run'])"
    result = subprocess.run([sys.executable, "-c", blocker], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 1
    assert "training needs the train extra" in result.stderr and "pip install -e '.[train]'" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_yaml_alias_bomb_under_a_known_key_is_refused_at_once(tmp_path, monkeypatch):
    """Nine nested levels of aliases under `emergency:` ran check-config past 60 s at about 1 GB."""
    config = tmp_path / "config"
    shutil.copytree(REPO_ROOT / "config", config)
    levels = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    levels += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    app = (config / "app.yaml").read_text()
    (config / "app.yaml").write_text("bomb:\n" + "".join(f"  {line}\n" for line in levels)
                                     + app.replace("\nemergency:", "\nemergency: *a9\nemergency_was:", 1))
    monkeypatch.setenv("FACEMOOD_CONFIG_DIR", str(config))
    result = CliRunner().invoke(cli, ["check-config"])  # refused before any alias is expanded
    assert result.exit_code == 1 and "aliases are not allowed in config files" in result.stderr


def test_a_config_file_too_large_to_be_one_is_refused(tmp_path, monkeypatch):
    config = tmp_path / "config"
    shutil.copytree(REPO_ROOT / "config", config)
    with (config / "app.yaml").open("a") as stream:
        stream.write("# " + "x" * 300_000 + "\n")
    monkeypatch.setenv("FACEMOOD_CONFIG_DIR", str(config))
    result = CliRunner().invoke(cli, ["check-config"])
    assert result.exit_code == 1 and "a config file is at most 256 KiB" in result.stderr
