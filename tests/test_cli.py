"""The command line: every command has help; errors are one line and exit code 1."""
# pytest fixtures are parameters named like the fixture functions
# pylint: disable=redefined-outer-name

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from cli import cli


def walk(group: click.Group, prefix=()):
    """Every (command path, command) under ``group``."""
    for name, command in group.commands.items():
        yield prefix + (name,), command
        if isinstance(command, click.Group):
            yield from walk(command, prefix + (name,))


@pytest.mark.parametrize("path", [p for p, _ in walk(cli)], ids=" ".join)
def test_every_command_has_help_text(path):
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0
    command = dict(walk(cli))[path]
    assert command.help and len(command.help.strip()) > 20


def test_augment_on_local_files_prints_the_report(tmp_path):
    source = tmp_path / "in.csv"
    source.write_text("emotion,pixels\n3," + " ".join(["9"] * 2304) + "\n7," + " ".join(["9"] * 2304) + "\n")
    result = CliRunner().invoke(cli, ["augment", str(source), str(tmp_path / "out.csv")])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["rows_valid"] == 1 and report["rows_written"] == 4
    assert report["rejected"] == [{"line": 3, "reason": "emotion 7 is outside 0..6"}]
    assert (tmp_path / "out.csv").read_text().startswith("emotion,pixels,augmentation,source\n3,9 9 9")


def test_augment_of_an_image_is_one_error_line(tmp_path):
    source = tmp_path / "photo.csv"
    source.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(32))
    result = CliRunner().invoke(cli, ["augment", str(source), str(tmp_path / "out.csv.gz")])
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1] == "Error: the file is a PNG image, not a FER2013 CSV"
    assert not (tmp_path / "out.csv.gz").exists() and not list(tmp_path.glob("*.partial"))


def test_local_status_without_a_stack():
    result = CliRunner().invoke(cli, ["local", "status"])
    assert result.exit_code == 0 and json.loads(result.stdout) == {"running": False}


def test_augment_refuses_a_refined_file(tmp_path):
    source = tmp_path / "in.csv"
    source.write_text("emotion,pixels\n3," + " ".join(["9"] * 2304) + "\n")
    assert CliRunner().invoke(cli, ["augment", str(source), str(tmp_path / "once.csv")]).exit_code == 0
    result = CliRunner().invoke(cli, ["augment", str(tmp_path / "once.csv"), str(tmp_path / "twice.csv")])
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1].startswith("Error: the file is already refined")
    assert not (tmp_path / "twice.csv").exists()


@pytest.fixture
def shipped_model():
    """The shipped model store (the repository)."""
    from facemood import bundle
    from facemood.config import REPO_ROOT

    if bundle.read_latest(str(REPO_ROOT)) is None:
        pytest.skip("no shipped model under models/: train one with `make model && make model-photos` (docs/model.md)")
    return str(REPO_ROOT)


def test_predict_answers_every_good_file_and_names_each_bad_one(tmp_path, shipped_model):
    import numpy as np

    from tests.photos import encode_jpeg

    good = tmp_path / "a.jpg"
    good.write_bytes(encode_jpeg(np.full((240, 320, 3), 120, np.uint8)))
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    text = tmp_path / "notes.jpg"
    text.write_text("hello")
    result = CliRunner().invoke(cli, ["predict", "--model", shipped_model, str(good), str(empty), str(text),
                                      str(tmp_path / "missing.jpg"), str(good)])
    assert result.exit_code == 1
    answers = json.loads(result.stdout)["results"]
    assert [a["image"] for a in answers] == [str(good), str(empty), str(text), str(tmp_path / "missing.jpg"),
                                             str(good)]
    assert answers[0]["faces"] == [] and answers[0]["faces_found"] == 0 and answers[4] == answers[0]
    assert answers[1]["error"] == "the photo is empty"
    assert answers[2]["error"] == "the file is not a photo this service can read (JPEG, PNG or WebP)"
    assert answers[3]["error"] == "no such file or directory"
    assert result.stderr.strip() == 'Error: 3 of 5 images could not be read (see their "error")'
    served = json.loads((Path(shipped_model) / "models" / "latest.json").read_text())["run_id"]
    carried = json.loads((Path(shipped_model) / "models" / served / "manifest.json").read_text())["distress_threshold"]
    printed = json.loads(result.stdout)
    assert printed["distress_threshold"] == carried["threshold"]  # the model's own rule, as the page
    assert printed["distress_combine"] == carried.get("combine", "sum")


@pytest.mark.parametrize("pointer, message", [
    ("{}", "is not a model pointer: 'run_id' is missing or not a string"),
    ("[1, 2]", "is not a model pointer: expected a JSON object"),
    ("{not json", "is not valid JSON"),
])
def test_a_broken_latest_json_is_one_error_line(tmp_path, pointer, message):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "latest.json").write_text(pointer)
    result = CliRunner().invoke(cli, ["predict", "--model", str(tmp_path), str(tmp_path / "x.jpg")])
    assert result.exit_code == 1
    assert result.stderr.strip() == f"Error: {tmp_path / 'models' / 'latest.json'} {message}"


def test_an_unreachable_endpoint_is_one_error_line(tmp_path, monkeypatch):
    from local_stack.s3_server import free_port

    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")  # nothing listens there
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "local")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "local")
    result = CliRunner().invoke(cli, ["predict", "--model", "s3://models", str(tmp_path / "x.jpg")])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: cannot reach s3://models/")


def test_missing_credentials_are_one_error_line(tmp_path, monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("FACEMOOD_STATE_FILE", str(tmp_path / "no-stack.json"))  # no local stack running either
    result = CliRunner().invoke(cli, ["predict", "--model", "s3://models", str(tmp_path / "x.jpg")])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: no AWS credentials to reach s3://models/")


def test_commands_on_local_files_need_no_aws_settings(tmp_path, monkeypatch, shipped_model):
    """A broken AWS setting stops only what needs AWS: predict, evaluate and models list on local
    files answer; predict of an s3:// model still names the setting."""
    import numpy as np

    from tests.photos import encode_jpeg

    monkeypatch.setenv("AWS_DEFAULT_REGION", "bad region!")
    photo = tmp_path / "a.jpg"
    photo.write_bytes(encode_jpeg(np.full((240, 320, 3), 120, np.uint8)))
    predicted = CliRunner().invoke(cli, ["predict", "--model", shipped_model, str(photo)])
    assert predicted.exit_code == 0, predicted.stderr
    assert json.loads(predicted.stdout)["results"][0]["faces_found"] == 0
    faces = tmp_path / "faces.npz"
    np.savez(faces, pixels=np.random.default_rng(0).integers(0, 256, (14, 48, 48), dtype=np.uint8),
             emotion=np.arange(14) % 7)
    evaluated = CliRunner().invoke(cli, ["evaluate", "--model", shipped_model, str(faces)])
    assert evaluated.exit_code == 0, evaluated.stderr
    assert 0.0 <= json.loads(evaluated.stdout)["accuracy"] <= 1.0
    listed = CliRunner().invoke(cli, ["models", "list", "--store", shipped_model])
    assert listed.exit_code == 0 and "SERVED" in listed.stdout
    remote = CliRunner().invoke(cli, ["predict", "--model", "s3://models", str(photo)])
    assert remote.exit_code == 1
    assert remote.stderr.strip().startswith("Error: the AWS region 'bad region!' (AWS_DEFAULT_REGION)")


def test_the_page_and_predict_read_the_same_file_the_same_way(tmp_path, shipped_model, fer2013):
    import numpy as np

    from facemood import bundle
    from facemood.app_settings import load_app_settings
    from facemood.checkin import check_in
    from facemood.face_steps import InProcessFaceStep
    from tests.photos import encode, encode_jpeg, make_photo

    settings = load_app_settings()
    model = bundle.load_bundle(shipped_model)
    step = InProcessFaceStep(settings.faces, workers=1)
    faces = fer2013["pixels"][np.flatnonzero(fer2013["usage"] == "Training")[::2003][:3]]
    rng = np.random.default_rng(17)
    from PIL import Image

    files = {"small.jpg": encode_jpeg(make_photo(rng, [faces[0]], (640, 480))[0]),
             "large.jpg": encode_jpeg(make_photo(rng, [faces[1]], (1920, 1440))[0]),
             "photo.png": encode(Image.fromarray(make_photo(rng, [faces[2]], (800, 600))[0]), "PNG")}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        result = CliRunner().invoke(cli, ["predict", "--model", shipped_model, str(tmp_path / name)])
        assert result.exit_code == 0, result.output
        by_cli = json.loads(result.stdout)["results"][0]["faces"]
        by_page = check_in(data, step, model, settings).readings
        assert len(by_cli) == len(by_page) == 1, name
        for emotion, p in by_cli[0]["probabilities"].items():
            assert abs(p - by_page[0].probabilities[emotion]) <= 0.01, (name, emotion)


def test_check_config_refuses_a_placeholder_resource_and_passes_a_filled_one(tmp_path, monkeypatch):
    import shutil

    import yaml

    from facemood.config import CONFIG_DIR

    result = CliRunner().invoke(cli, ["check-config"])  # the committed config: the campus entry is to fill in
    assert result.exit_code == 1
    assert result.stderr.strip() == ("Error: config/app.yaml is not ready for students: 'Campus counselling "
                                     "service' still holds placeholder text ('fill in')")
    config = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, config)
    settings = yaml.safe_load((config / "app.yaml").read_text())
    settings["resources"][0] = {"name": "Campus counselling service", "phone": "+1-555-0100"}
    (config / "app.yaml").write_text(yaml.safe_dump(settings))
    monkeypatch.setenv("FACEMOOD_CONFIG_DIR", str(config))
    result = CliRunner().invoke(cli, ["check-config"])
    assert result.exit_code == 0 and result.stdout.strip() == "config ok"


SIGN_IN_ENVIRONMENT = {"FACEMOOD_OIDC_CLIENT_ID": "client", "FACEMOOD_OIDC_CLIENT_SECRET": 's3cr"et\\x',
                       "FACEMOOD_COOKIE_SECRET": "c" * 64,
                       "FACEMOOD_OIDC_METADATA_URL": "https://cognito-idp.us-east-1.amazonaws.com/pool/.well-known/"
                                                     "openid-configuration",
                       "FACEMOOD_OIDC_REDIRECT_URI": "https://wellbeing.campus.edu/oauth2callback"}


def test_sign_in_secrets_writes_streamlits_auth_section_owner_only(tmp_path, monkeypatch):
    import tomllib

    for name, value in SIGN_IN_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    output = tmp_path / ".streamlit" / "secrets.toml"
    result = CliRunner().invoke(cli, ["sign-in-secrets", "--output", str(output)])
    assert result.exit_code == 0, result.output
    assert tomllib.loads(output.read_text())["auth"] == {
        "client_id": "client", "client_secret": 's3cr"et\\x', "cookie_secret": "c" * 64,
        "server_metadata_url": SIGN_IN_ENVIRONMENT["FACEMOOD_OIDC_METADATA_URL"],
        "redirect_uri": "https://wellbeing.campus.edu/oauth2callback"}
    assert output.stat().st_mode & 0o777 == 0o600
    assert 's3cr"et' not in result.output  # never echoed


@pytest.mark.parametrize(("change", "message"), [
    ({"FACEMOOD_COOKIE_SECRET": ""}, "set FACEMOOD_COOKIE_SECRET (auth: oidc needs them)"),
    ({"FACEMOOD_OIDC_REDIRECT_URI": "http://wellbeing.campus.edu/oauth2callback"}, "must use https://"),
    ({"FACEMOOD_OIDC_REDIRECT_URI": "https://wellbeing.campus.edu/"}, "must end with /oauth2callback"),
    ({"FACEMOOD_COOKIE_SECRET": "short"}, "cookie_secret must be at least 32 characters"),
])
def test_sign_in_secrets_refuses_what_would_not_sign_in_safely(tmp_path, monkeypatch, change, message):
    for name, value in {**SIGN_IN_ENVIRONMENT, **change}.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(cli, ["sign-in-secrets", "--output", str(tmp_path / "secrets.toml")])
    assert result.exit_code == 1 and message in result.stderr
    assert not (tmp_path / "secrets.toml").exists()
