"""Running FaceMood on this machine: the local stack (up, status, down) and the demo."""

from __future__ import annotations

from pathlib import Path

import click

from cli.options import config_option, print_json, stop_on_signals
from facemood.errors import LocalStackError


@click.group()
def local() -> None:
    """The local stack: moto's S3 server on loopback, the buckets, the event relay."""


@local.command("up")
@click.option("--retrain", is_flag=True, help="Each new refined file starts a training run (as RetrainOnNewData).")
@click.option("--sign-in", "sign_in", is_flag=True,
              help="Also serve an OpenID Connect test provider on loopback (the default when config/app.yaml "
                   "says auth: oidc).")
def local_up(retrain: bool, sign_in: bool) -> None:
    """Start the local stack in the foreground (Ctrl-C or `facemood local down` stops it)."""
    import time

    from cli.wiring import app_sign_in_secrets, local_stack
    from facemood.app_settings import load_app_settings
    from local_stack.stack import load_stack_settings
    from local_stack.state import read_state, write_state

    if read_state() is not None:
        raise LocalStackError("a local stack is already running: see `facemood local status`")
    settings = load_stack_settings()
    stack, _ = local_stack(settings, click.echo, retrain=retrain, sign_in=sign_in or load_app_settings().signs_in)
    stack.start()
    write_state(stack.endpoint, settings.buckets)
    stop_on_signals()
    buckets = settings.buckets
    click.echo(f"S3 endpoint: {stack.endpoint}  (export AWS_ENDPOINT_URL={stack.endpoint})")
    click.echo(f"buckets: raw={buckets.raw} refined={buckets.refined} model={buckets.model}")
    if stack.seeded:
        click.echo(f"model bucket seeded with the shipped model {stack.seeded}")
    secrets = app_sign_in_secrets(stack, f"http://127.0.0.1:{settings.app_port}")
    if stack.provider and secrets:
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
    from local_stack.state import read_state, status

    state = read_state()
    print_json(status(state) if state else {"running": False})


@local.command("down")
def local_down() -> None:
    """Stop the running local stack."""
    from local_stack.state import read_state, stop_running

    state = read_state()
    if state is None:
        click.echo("no local stack is running")
        return
    if not stop_running(state):
        raise LocalStackError(f"the local stack (pid {state['pid']}) did not stop")
    click.echo("stopped")


@click.command()
@click.option("--data", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="A FER2013 CSV(.gz): uploaded to raw, augmented, trained on, published.")
@config_option("pipeline-demo.yaml")
@click.option("--sign-in", "sign_in", is_flag=True,
              help="Require sign-in, through an OpenID Connect test provider on loopback (and offer the journal).")
def demo(data: Path | None, config_file: str | None, sign_in: bool) -> None:
    """The main job, locally: stack up, data in, augment, train (or the shipped model), app served."""
    from cli.demo_run import run_demo
    from facemood.app_settings import load_app_settings
    from local_stack.stack import load_stack_settings

    stop_on_signals()
    try:
        run_demo(load_stack_settings(), data, click.echo, config_path=config_file,
                 sign_in=sign_in or load_app_settings().signs_in)
    except KeyboardInterrupt:
        click.echo("\nstopped: app, event relay and S3 server are down")
