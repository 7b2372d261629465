"""Operating a deployment: the app container's sign-in settings, the config check, replaying
the augmentation events that kept failing."""

from __future__ import annotations

from pathlib import Path

import click

from cli.options import print_json, stack_option


@click.command("sign-in-secrets")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Where Streamlit reads its secrets (e.g. ~/.streamlit/secrets.toml).")
def sign_in_secrets(output: Path) -> None:
    """Write Streamlit's [auth] secrets for st.login from the environment (FACEMOOD_OIDC_CLIENT_ID,
    FACEMOOD_OIDC_CLIENT_SECRET, FACEMOOD_COOKIE_SECRET, FACEMOOD_OIDC_METADATA_URL,
    FACEMOOD_OIDC_REDIRECT_URI), owner-only. The app container runs it at start."""
    from facemood.sign_in import secrets_from_environment

    path = secrets_from_environment().write(output)
    click.echo(f"wrote the sign-in settings to {path}", err=True)


@click.command("check-config")
def check_config() -> None:
    """Check every config file, and that the app can go live (no placeholder counselling resource).

    Prints what it checked; exits 1 naming each problem. scripts/deploy.sh runs it first.
    """
    from facemood.app_settings import load_app_settings
    from facemood.augment import load_augment_settings
    from facemood.config import config_path
    from facemood.errors import ConfigError
    from local_stack.stack import load_stack_settings
    from pipeline.settings import load_pipeline_settings

    load_augment_settings()
    load_stack_settings()
    for name in ("pipeline.yaml", "pipeline-demo.yaml", "model-fer2013.yaml", "model-photos.yaml"):
        if name == "pipeline.yaml" or config_path(name).exists():  # overlays are optional in a config folder
            load_pipeline_settings(config_path(name))
    problems = load_app_settings().problems()
    if problems:
        raise ConfigError("config/app.yaml is not ready for students: " + "; ".join(problems))
    click.echo("config ok")


@click.command("replay-failed")
@stack_option()
@click.option("--limit", default=1000, show_default=True, help="Replay at most this many events.")
def replay_failed(stack: str, limit: int) -> None:
    """Send the augmentation events that kept failing (the stack's failure queue) to the Lambda again.

    Fix the cause first (a bug, a too-small memory or timeout setting), then replay: each
    event runs again asynchronously; one that fails again returns to the queue.
    """
    from facemood.aws import aws_client
    from facemood.deployment import (
        replay_failed_events,
        require_outputs,
        stack_outputs,
    )

    outputs = stack_outputs(aws_client("cloudformation"), stack)
    require_outputs(outputs, "AugmentFailureQueueUrl", "AugmentFunctionName")
    print_json(replay_failed_events(aws_client("sqs"), aws_client("lambda"),
                                     outputs["AugmentFailureQueueUrl"], outputs["AugmentFunctionName"], limit))
