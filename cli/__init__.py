"""The ``facemood`` command: the composition root, outside the core package ``facemood``.
Each command loads config, builds objects, calls one library function and prints the result;
heavy imports are lazy. The ECS training task runs its ``train`` command too (the pipeline
image's entrypoint is ``facemood train``): one command, one ``Error:`` line for a domain error.

Only this package imports the deployables (``pipeline``, ``lambdas``) and
wires them into the local stack (``local_stack``); the core never does. One module per group of
commands: pipeline_commands (train, augment, evaluate, predict), model_commands (models),
operations (sign-in-secrets, check-config, replay-failed), local_run (local, demo), page (the
app container's page); options holds what they share."""

from __future__ import annotations

import sys
from typing import Any

import click

from cli import local_run, model_commands, operations, page, pipeline_commands
from facemood.errors import FaceMoodError


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
    from facemood.logs import setup_logging

    setup_logging()
    use_running_local_stack()


def use_running_local_stack() -> None:
    """With no AWS endpoint, credentials or profile of its own, a command talks to the local stack
    when one is running (`facemood local up` or `make demo`; its state file says where), as the
    app it serves does. Elsewhere (no local stack installed, none running) nothing changes."""
    import logging
    import os
    from pathlib import Path

    from facemood.config import ENV

    own = (ENV.ENDPOINT, "AWS_ACCESS_KEY_ID", "AWS_PROFILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
    files = (os.environ.get("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials"),
             os.environ.get("AWS_CONFIG_FILE", "~/.aws/config"))
    if any(os.environ.get(name) for name in own) or any(Path(f).expanduser().is_file() for f in files):
        return
    try:
        from local_stack.s3_server import local_environment
        from local_stack.state import read_state
    except ImportError:  # an image without the local stack
        return
    state = read_state()
    if state is None:
        return
    os.environ.update(local_environment(state["endpoint"]))
    logging.getLogger(__name__).info("no AWS settings of its own: using the running local stack at %s",
                                     state["endpoint"])


for command in (pipeline_commands.train, pipeline_commands.augment, pipeline_commands.evaluate,
                pipeline_commands.predict, model_commands.models, operations.sign_in_secrets,
                operations.check_config, operations.replay_failed, local_run.local, local_run.demo, page.page):
    cli.add_command(command)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``facemood`` console script and ``python -m cli``."""
    cli.main(args=argv, prog_name="facemood")
