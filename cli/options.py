"""What the commands share: options declared once, JSON output, the model store, signals."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import click

STORE_HELP = "A store root: a local folder or s3://bucket[/prefix] (default: config/app.yaml's model_uri)."
MODEL_HELP = "A bundle folder, a models/latest.json, or a store root (s3://bucket or a folder)"


def print_json(data: Any) -> None:
    """A command's result on stdout, as indented JSON."""
    click.echo(json.dumps(data, indent=2, default=str))


def stack_option(help_text: str = "The deployed stack.") -> Callable:
    """``--stack NAME``: the CloudFormation stack to read outputs from."""
    return click.option("--stack", default="facemood", show_default=True, help=help_text)


def config_option(default_file: str) -> Callable:
    """``--config FILE``: a config file instead of the default one of config/."""
    return click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None,
                        help=f"Config file (default: config/{default_file}).")


def model_option() -> Callable:
    """``--model URI``: the bundle to use; absent, the one the app serves (:func:`served_model_uri`)."""
    return click.option("--model", "model_uri", help=f"{MODEL_HELP} (default: config/app.yaml's model_uri).")


def served_model_uri(model_uri: str | None) -> str:
    """``--model`` when given, else the model the app serves (config/app.yaml's model_uri)."""
    from facemood.app_settings import load_app_settings

    return model_uri or load_app_settings().model_uri


store_option = click.option("--store", default=None, help=STORE_HELP)


def model_store(store: str | None) -> str:
    """The model store a command works on: ``store``, else the one the app serves from."""
    from facemood.app_settings import load_app_settings

    return store or load_app_settings().model_uri


def stop_on_signals() -> None:
    """Ctrl-C, `kill` and `local down` all stop a long-running command cleanly (its finally
    blocks stop the app and the servers), even when it was started with SIGINT ignored
    (nohup, or `&` from a script)."""
    import signal

    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, signal.default_int_handler)
