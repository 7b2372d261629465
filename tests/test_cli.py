"""The command line: every command has help; errors are one line and exit code 1."""

from __future__ import annotations

import json

import click
import pytest
from click.testing import CliRunner

from facemood.cli import cli


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
