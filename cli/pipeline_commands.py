"""Commands that use data and models here: train (or start training on AWS), augment a file,
evaluate a bundle, predict on photos."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from cli.options import config_option, model_option, print_json, served_model_uri, stack_option


@click.command()
@config_option("pipeline.yaml")
@click.option("--data", "data_uri", default=None, help="Training data: s3://bucket/key, a CSV(.gz) or an .npz.")
@click.option("--output", default=None, help="Where to publish: s3://bucket or a local folder (default: model bucket).")
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Keep the checkpoint and bundle files here (default: a temporary folder).")
@click.option("--from-checkpoint", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help="Skip training: export, evaluate and publish this checkpoint.")
@click.option("--dry-run", is_flag=True, help="One epoch of one batch: checks the whole path quickly.")
@click.option("--stop-after", "stop_after", type=click.FloatRange(min=0), default=None, metavar="MINUTES",
              help="Stop at the first checkpointed epoch after MINUTES (needs --workdir; exit 75): "
                   "the same command continues the run.")
@click.option("--remote", is_flag=True, help="Start the training task on ECS Fargate instead of here.")
@stack_option("The deployed stack (with --remote).")
# a click command takes one parameter per option
# pylint: disable-next=too-many-arguments,too-many-positional-arguments
def train(config_file: str | None, data_uri: str | None, output: str | None, workdir: Path | None,
          from_checkpoint: Path | None, dry_run: bool, stop_after: float | None, remote: bool, stack: str) -> None:
    """Train, evaluate and publish a model bundle (what the ECS task runs)."""
    if remote:
        from facemood.aws import aws_client
        from facemood.deployment import stack_outputs
        from pipeline.remote import run_training_task

        outputs = stack_outputs(aws_client("cloudformation"), stack)
        print_json(run_training_task(aws_client("ecs"), outputs, data_uri))
        return
    from facemood.errors import TimeBudgetReached
    from pipeline.task import RESUME_LATER, report, train_and_publish

    try:
        summary = train_and_publish(config_file, data_uri, output, workdir, from_checkpoint, dry_run, stop_after)
    except TimeBudgetReached as exc:
        click.echo(f"Not finished: {exc}", err=True)
        sys.exit(RESUME_LATER)
    code = report(summary)
    if code:
        sys.exit(code)


@click.command()
@click.argument("source", type=click.Path(exists=True, dir_okay=False))
@click.argument("target", type=click.Path(dir_okay=False))
@config_option("augment.yaml")
def augment(source: str, target: str, config_file: str | None) -> None:
    """Validate and augment a FER2013 CSV(.gz) into TARGET (gzip if it ends .gz); print the report."""
    from facemood.augment import augment_file, load_augment_settings

    report = augment_file(source, target, load_augment_settings(config_file))
    click.echo(report.to_json().decode())
    if report.status != "complete":
        click.echo(f"Error: {report.error}", err=True)
        sys.exit(1)


@click.command()
@model_option()
@click.argument("data")
def evaluate(model_uri: str | None, data: str) -> None:
    """Print accuracy, macro-F1, per-class metrics and the confusion matrix of a bundle (the
    served one unless --model names another) on DATA (JSON).

    DATA is a labelled FER2013 CSV(.gz) or an .npz with pixels and emotion arrays.
    """
    from facemood import bundle, storage
    from facemood.dataset import load_faces
    from pipeline.scores import classification_scores

    model_uri = served_model_uri(model_uri)
    client = storage.client_for(model_uri, data)
    model = bundle.load_bundle(model_uri, client)
    faces = load_faces(data, client)
    metrics = classification_scores(faces.labels, model.predict_proba(faces.pixels))
    print_json({"model": model.uri, "run_id": model.run_id, "data": data, **metrics})


@click.command()
@model_option()
@click.argument("images", nargs=-1, required=True, type=click.Path(dir_okay=False))
def predict(model_uri: str | None, images: tuple[str, ...]) -> None:
    """Print the faces, boxes and emotion probabilities of each IMAGE (JSON).

    Every image is answered: one that cannot be read gets an "error" entry naming why, and
    the command then exits with code 1 after printing the others.
    """
    from facemood import bundle, storage
    from facemood.app_settings import load_app_settings
    from facemood.checkin import read_faces
    from facemood.errors import InvalidImage
    from facemood.faces import NO_FACE_MESSAGE, FacePreprocessor

    settings = load_app_settings()
    model_uri = served_model_uri(model_uri)
    model = bundle.load_bundle(model_uri, storage.client_for(model_uri))
    preprocessor = FacePreprocessor(settings.faces)
    results, failed = [], 0
    for path in images:
        try:
            reading = preprocessor(Path(path).read_bytes())
        except (OSError, InvalidImage) as exc:
            failed += 1
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            results.append({"image": path, "error": reason.lower() if isinstance(exc, OSError) else reason})
            continue
        try:
            found = read_faces(reading.faces, model, settings.distress)
        except InvalidImage as exc:  # a reading that is not a number: said, never printed as NaN
            failed += 1
            results.append({"image": path, "error": str(exc)})
            continue
        results.append({
            "image": path, "image_size": list(reading.image_size), "faces_found": reading.found,
            "faces": [{"box": list(r.face.box), "emotion": r.top, "distress": r.flagged,
                       "probabilities": {k: round(v, 4) for k, v in r.probabilities.items()}} for r in found],
            **({} if found else {"message": NO_FACE_MESSAGE}),
        })
    # the flag's rule, as the page applies it: the model's own unless config/app.yaml sets a threshold
    rule = settings.distress.rule_for(model.distress_rule)
    print_json({"model": model.uri, "run_id": model.run_id, "distress_threshold": rule.threshold,
                "distress_combine": rule.combine, "results": results})
    if failed:
        click.echo(f"Error: {failed} of {len(images)} images could not be read (see their \"error\")", err=True)
        sys.exit(1)
