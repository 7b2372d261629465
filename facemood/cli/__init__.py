"""The ``facemood`` command: the composition root. Each command loads config, builds
objects, calls one library function and prints the result; heavy imports are lazy.

Only this package imports the deployables (``pipeline``, ``preprocessing_lambda``) and
wires them into the local stack; the rest of ``facemood`` never does."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from facemood.errors import FaceMoodError, LocalStackError


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
@click.option("--remote", is_flag=True, help="Start the training task on ECS Fargate instead of here.")
@click.option("--stack", default="facemood", show_default=True, help="The deployed stack (with --remote).")
def train(config_file: str | None, data_uri: str | None, output: str | None, workdir: Path | None,
          from_checkpoint: Path | None, dry_run: bool, remote: bool, stack: str) -> None:
    """Train, evaluate and publish a model bundle (what the ECS task runs)."""
    if remote:
        from facemood.deployment import stack_outputs  # pylint: disable=import-outside-toplevel
        from facemood.storage import aws_client  # pylint: disable=import-outside-toplevel
        from pipeline.remote import run_training_task  # pylint: disable=import-outside-toplevel

        outputs = stack_outputs(aws_client("cloudformation"), stack)
        _print_json(run_training_task(aws_client("ecs"), outputs, data_uri))
        return
    from pipeline.task import report, train_and_publish  # pylint: disable=import-outside-toplevel

    code = report(train_and_publish(config_file, data_uri, output, workdir, from_checkpoint, dry_run))
    if code:
        sys.exit(code)


@cli.command()
@click.argument("source", type=click.Path(exists=True, dir_okay=False))
@click.argument("target", type=click.Path(dir_okay=False))
@click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None,
              help="Augmentation config (default: config/augment.yaml).")
def augment(source: str, target: str, config_file: str | None) -> None:
    """Validate and augment a FER2013 CSV(.gz) into TARGET (gzip if it ends .gz); print the report."""
    from facemood.augment import augment_file, load_augment_settings  # pylint: disable=import-outside-toplevel

    report = augment_file(source, target, load_augment_settings(config_file))
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


@cli.command()
@click.option("--model", "model_uri", default=None,
              help="A bundle folder, a models/latest.json, or a store root (default: config/app.yaml's model_uri).")
@click.argument("images", nargs=-1, required=True, type=click.Path(dir_okay=False))
def predict(model_uri: str | None, images: tuple[str, ...]) -> None:
    """Print the faces, boxes and emotion probabilities of each IMAGE (JSON).

    Every image is answered: one that cannot be read gets an "error" entry naming why, and
    the command then exits with code 1 after printing the others.
    """
    from facemood import bundle, storage  # pylint: disable=import-outside-toplevel
    from facemood.app_settings import load_app_settings  # pylint: disable=import-outside-toplevel
    from facemood.checkin import read_faces  # pylint: disable=import-outside-toplevel
    from facemood.errors import InvalidImage  # pylint: disable=import-outside-toplevel
    from facemood.faces import NO_FACE_MESSAGE, FacePreprocessor  # pylint: disable=import-outside-toplevel

    settings = load_app_settings()
    model = bundle.load_bundle(model_uri or settings.model_uri, storage.s3_client())
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
        found = read_faces(reading.faces, model, settings.distress)
        results.append({
            "image": path, "image_size": list(reading.image_size), "faces_found": reading.found,
            "faces": [{"box": list(r.face.box), "emotion": r.top, "distress": r.distress,
                       "probabilities": {k: round(v, 4) for k, v in r.probabilities.items()}} for r in found],
            **({} if found else {"message": NO_FACE_MESSAGE}),
        })
    _print_json({"model": model.uri, "run_id": model.run_id, "results": results})
    if failed:
        click.echo(f"Error: {failed} of {len(images)} images could not be read (see their \"error\")", err=True)
        sys.exit(1)


@cli.group()
def models() -> None:
    """The model store: list the bundles, serve one (promote or roll back)."""


STORE_HELP = "A store root: a local folder or s3://bucket[/prefix] (default: config/app.yaml's model_uri)."


def _store(store: str | None) -> str:
    from facemood.app_settings import load_app_settings  # pylint: disable=import-outside-toplevel

    return store or load_app_settings().model_uri


@models.command("list")
@click.option("--store", default=None, help=STORE_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def models_list(store: str | None, as_json: bool) -> None:
    """Every bundle in the store: run id, date, metrics, accepted or rejected and why, which is served."""
    from facemood import registry, storage  # pylint: disable=import-outside-toplevel

    entries = registry.list_models(_store(store), storage.s3_client())
    if as_json:
        _print_json([e.to_json() for e in entries])
        return
    if not entries:
        click.echo("no models in this store")
        return
    for entry in entries:
        figures = ", ".join(f"{name} accuracy {m['accuracy']:.1%} macro-F1 {m['macro_f1']:.1%}"
                            for name, m in entry.metrics.items())
        marks = (["SERVED"] if entry.served else []) + [f"promoted {m.time} ({m.by})" for m in entry.moves]
        click.echo(f"{entry.run_id}  {entry.created}  {entry.status}  {figures}"
                   + (f"  [{'; '.join(marks)}]" if marks else ""))
        for reason in entry.reasons:
            click.echo(f"    why: {reason}")


@models.command("promote")
@click.argument("run_id")
@click.option("--store", default=None, help=STORE_HELP)
@click.option("--reason", default="promoted by hand", show_default=True, help="Recorded in the history.")
def models_promote(run_id: str, store: str | None, reason: str) -> None:
    """Serve bundle RUN_ID (promotion or rollback): verified first, then latest.json moves and the
    move is appended to models/history/."""
    from facemood import registry, storage  # pylint: disable=import-outside-toplevel

    move = registry.promote(_store(store), run_id, reason, client=storage.s3_client())
    _print_json(move.to_json())
    click.echo(f"now serving {move.run_id}" + (f" (was {move.previous_run_id})" if move.previous_run_id else ""),
               err=True)


@cli.command("sign-in-secrets")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Where Streamlit reads its secrets (e.g. ~/.streamlit/secrets.toml).")
def sign_in_secrets(output: Path) -> None:
    """Write Streamlit's [auth] secrets for st.login from the environment (FACEMOOD_OIDC_CLIENT_ID,
    FACEMOOD_OIDC_CLIENT_SECRET, FACEMOOD_COOKIE_SECRET, FACEMOOD_OIDC_METADATA_URL,
    FACEMOOD_OIDC_REDIRECT_URI), owner-only. The app container runs it at start."""
    from facemood.sign_in import secrets_from_environment  # pylint: disable=import-outside-toplevel

    path = secrets_from_environment().write(output)
    click.echo(f"wrote the sign-in settings to {path}", err=True)


@cli.command("check-config")
def check_config() -> None:
    """Check every config file, and that the app can go live (no placeholder counselling resource).

    Prints what it checked; exits 1 naming each problem. scripts/deploy.sh runs it first.
    """
    from facemood.app_settings import load_app_settings  # pylint: disable=import-outside-toplevel
    from facemood.augment import load_augment_settings  # pylint: disable=import-outside-toplevel
    from facemood.config import config_path  # pylint: disable=import-outside-toplevel
    from facemood.errors import ConfigError  # pylint: disable=import-outside-toplevel
    from facemood.local.stack import load_stack_settings  # pylint: disable=import-outside-toplevel
    from pipeline.settings import load_pipeline_settings  # pylint: disable=import-outside-toplevel

    load_augment_settings()
    load_stack_settings()
    for name in ("pipeline.yaml", "pipeline-demo.yaml", "model-fer2013.yaml", "model-photos.yaml"):
        if name == "pipeline.yaml" or config_path(name).exists():  # overlays are optional in a config folder
            load_pipeline_settings(config_path(name))
    problems = load_app_settings().problems()
    if problems:
        raise ConfigError("config/app.yaml is not ready for students: " + "; ".join(problems))
    click.echo("config ok")


@cli.command("replay-failed")
@click.option("--stack", default="facemood", show_default=True, help="The deployed stack.")
@click.option("--limit", default=1000, show_default=True, help="Replay at most this many events.")
def replay_failed(stack: str, limit: int) -> None:
    """Send the augmentation events that kept failing (the stack's failure queue) to the Lambda again.

    Fix the cause first (a bug, a too-small memory or timeout setting), then replay: each
    event runs again asynchronously; one that fails again returns to the queue.
    """
    from facemood.deployment import (  # pylint: disable=import-outside-toplevel
        replay_failed_events,
        require_outputs,
        stack_outputs,
    )
    from facemood.storage import aws_client  # pylint: disable=import-outside-toplevel

    outputs = stack_outputs(aws_client("cloudformation"), stack)
    require_outputs(outputs, "AugmentFailureQueueUrl", "AugmentFunctionName")
    _print_json(replay_failed_events(aws_client("sqs"), aws_client("lambda"),
                                     outputs["AugmentFailureQueueUrl"], outputs["AugmentFunctionName"], limit))


@cli.group()
def local() -> None:
    """The local stack: moto's S3 server on loopback, the buckets, the event relay."""


@local.command("up")
@click.option("--retrain", is_flag=True, help="Each new refined file starts a training run (as RetrainOnNewData).")
@click.option("--sign-in", "sign_in", is_flag=True,
              help="Also serve an OpenID Connect test provider on loopback (the default when config/app.yaml "
                   "says auth: oidc).")
def local_up(retrain: bool, sign_in: bool) -> None:
    """Start the local stack in the foreground (Ctrl-C or `facemood local down` stops it)."""
    import time  # pylint: disable=import-outside-toplevel

    from facemood.app_settings import load_app_settings  # pylint: disable=import-outside-toplevel
    from facemood.cli.wiring import Retrainer, augment_handler  # pylint: disable=import-outside-toplevel
    from facemood.local.stack import LocalStack, load_stack_settings  # pylint: disable=import-outside-toplevel
    from facemood.local.state import read_state, state_file, write_state  # pylint: disable=import-outside-toplevel

    if read_state() is not None:
        raise LocalStackError("a local stack is already running: see `facemood local status`")
    settings = load_stack_settings()
    sign_in = sign_in or load_app_settings().signs_in
    retrainer = Retrainer(settings.buckets, settings.demo_pipeline, click.echo) if retrain else None
    stack = LocalStack(settings, augment_handler(settings.buckets), sign_in=sign_in,
                       on_refined_report=retrainer).start()
    write_state(stack.endpoint, settings.buckets)
    _stop_on_signals()
    buckets = settings.buckets
    click.echo(f"S3 endpoint: {stack.endpoint}  (export AWS_ENDPOINT_URL={stack.endpoint})")
    click.echo(f"buckets: raw={buckets.raw} refined={buckets.refined} model={buckets.model}")
    if stack.seeded:
        click.echo(f"model bucket seeded with the shipped model {stack.seeded}")
    if stack.provider:
        secrets = stack.provider.secrets_for(f"http://127.0.0.1:{settings.app_port}").write(
            state_file().parent / "secrets.toml")
        click.echo(f"OpenID Connect test provider: {stack.provider.issuer}; sign-in settings for an app on port "
                   f"{settings.app_port}: {secrets} (streamlit run app.py --secrets.files {secrets.resolve()})")
    then = " and then the training task" if retrain else ""
    click.echo(f"Upload a FER2013 CSV to s3://{buckets.raw}/ and the augmentation{then} runs. Ctrl-C stops.")
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        click.echo("stopping")
    finally:
        stack.stop()


@local.command("status")
def local_status() -> None:
    """Print what the running local stack holds (JSON)."""
    from facemood.local.state import read_state, status  # pylint: disable=import-outside-toplevel

    state = read_state()
    _print_json(status(state) if state else {"running": False})


@local.command("down")
def local_down() -> None:
    """Stop the running local stack."""
    from facemood.local.state import read_state, stop_running  # pylint: disable=import-outside-toplevel

    state = read_state()
    if state is None:
        click.echo("no local stack is running")
        return
    if not stop_running(state):
        raise LocalStackError(f"the local stack (pid {state['pid']}) did not stop")
    click.echo("stopped")


@cli.command()
@click.option("--data", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="A FER2013 CSV(.gz): uploaded to raw, augmented, trained on, published.")
@click.option("--config", "config_file", default=None, help="Training config for the demo run.")
@click.option("--sign-in", "sign_in", is_flag=True,
              help="Require sign-in, through an OpenID Connect test provider on loopback (and offer the journal).")
def demo(data: Path | None, config_file: str | None, sign_in: bool) -> None:
    """The main job, locally: stack up, data in, augment, train (or the shipped model), app served."""
    from facemood.app_settings import load_app_settings  # pylint: disable=import-outside-toplevel
    from facemood.cli.demo_run import run_demo  # pylint: disable=import-outside-toplevel
    from facemood.local.stack import load_stack_settings  # pylint: disable=import-outside-toplevel

    _stop_on_signals()
    try:
        run_demo(load_stack_settings(), data, click.echo, config_path=config_file,
                 sign_in=sign_in or load_app_settings().signs_in)
    except KeyboardInterrupt:
        click.echo("\nstopped: app, event relay and S3 server are down")


def _stop_on_signals() -> None:
    """Ctrl-C, `kill` and `local down` all stop a long-running command cleanly (its finally
    blocks stop the app and the servers), even when it was started with SIGINT ignored
    (nohup, or `&` from a script)."""
    import signal  # pylint: disable=import-outside-toplevel

    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, signal.default_int_handler)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``facemood`` console script and ``python -m facemood``."""
    cli.main(args=argv, prog_name="facemood")
