"""The ``facemood`` command: one composition root; each command loads config, builds
objects, calls one library function and prints the result. Heavy imports are lazy."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from facemood.errors import FaceMoodError


def _print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


class _Group(click.Group):
    """Translates domain errors into one ``Error: ...`` line and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except FaceMoodError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(1)


@click.group(cls=_Group)
@click.version_option(package_name="facemood")
def cli() -> None:
    """FaceMood: facial-emotion recognition for student well-being."""
    from facemood.logs import setup_logging  # pylint: disable=import-outside-toplevel

    setup_logging()


@cli.command()
@click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None,
              help="Pipeline config (default: config/pipeline.yaml).")
@click.option("--data", "data_uri", default=None, help="Training data: s3://bucket/key, a CSV(.gz) or an .npz.")
@click.option("--output", default=None, help="Where to publish: s3://bucket or a local folder (default: model bucket).")
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Keep the checkpoint and bundle files here (default: a temporary folder).")
@click.option("--from-checkpoint", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help="Skip training: export, evaluate and publish this checkpoint.")
@click.option("--dry-run", is_flag=True, help="One epoch of one batch: checks the whole path quickly.")
def train(config_file: str | None, data_uri: str | None, output: str | None, workdir: Path | None,
          from_checkpoint: Path | None, dry_run: bool) -> None:
    """Train, evaluate and publish a model bundle (what the ECS task runs)."""
    from facemood import storage  # pylint: disable=import-outside-toplevel
    from pipeline.main import run  # pylint: disable=import-outside-toplevel
    from pipeline.settings import dry_run_settings, load_settings  # pylint: disable=import-outside-toplevel

    settings = load_settings(config_file, data_uri, output)
    if dry_run:
        settings = dry_run_settings(settings)
    summary = run(settings, storage.s3_client(), workdir, from_checkpoint)
    _print_json(summary)
    if summary["status"] != "accepted":
        sys.exit(2)


@cli.command()
@click.argument("source", type=click.Path(exists=True, dir_okay=False))
@click.argument("target", type=click.Path(dir_okay=False))
@click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None,
              help="Augmentation config (default: config/augment.yaml).")
def augment(source: str, target: str, config_file: str | None) -> None:
    """Validate and augment a FER2013 CSV(.gz) into TARGET (gzip if it ends .gz); print the report."""
    from facemood import refine  # pylint: disable=import-outside-toplevel

    report = refine.refine_file(source, target, refine.load_settings(config_file))
    click.echo(report.to_json().decode())
    if report.status != "complete":
        click.echo(f"Error: {report.error}", err=True)
        sys.exit(1)


@cli.command()
@click.option("--model", "model_uri", required=True,
              help="A bundle folder, a models/latest.json, or a store root (s3://bucket or a folder).")
@click.argument("data")
def evaluate(model_uri: str, data: str) -> None:
    """Print accuracy, macro-F1, per-class metrics and the confusion matrix of a bundle on DATA (JSON).

    DATA is a labelled FER2013 CSV(.gz) or an .npz with pixels and emotion arrays.
    """
    from facemood import bundle, storage  # pylint: disable=import-outside-toplevel
    from facemood.dataset import load_faces  # pylint: disable=import-outside-toplevel
    from facemood.metrics import classification_metrics  # pylint: disable=import-outside-toplevel

    client = storage.s3_client()
    model = bundle.load_bundle(model_uri, client)
    faces = load_faces(data, client)
    metrics = classification_metrics(faces.labels, model.predict_proba(faces.pixels))
    _print_json({"model": model.uri, "run_id": model.run_id, "data": data, **metrics})


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``facemood`` console script and ``python -m facemood``."""
    cli.main(args=argv, prog_name="facemood")
