"""``facemood page``: serve the page (Streamlit) as the app container does, every line it writes a
JSON log line in AWS (or with FACEMOOD_LOG_FORMAT=json), so CloudWatch can read them all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import click

APP_DIR = Path(__file__).resolve().parent.parent / "app"


@click.command("page", context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.option("--app-dir", type=click.Path(file_okay=False, path_type=Path), default=APP_DIR, show_default=True,
              help="The folder of app.py and its .streamlit/config.toml.")
@click.pass_context
def page(ctx: click.Context, app_dir: Path) -> None:
    """Serve the page; options after it go to `streamlit run` (e.g. --server.address 0.0.0.0)."""
    from facemood.logs import PAGE_LOG_FORMAT, JsonLines, log_format

    command = [sys.executable, "-m", "streamlit", "run", "app.py", *ctx.args]
    if log_format() != "json":
        os.chdir(app_dir)
        os.execv(sys.executable, command)
    # Streamlit's own loggers write past Python's logging set-up, and its banner is printed: its
    # output is read line by line and written again as JSON (the page's own lines are JSON already).
    env = {**os.environ, "STREAMLIT_LOGGER_MESSAGE_FORMAT": PAGE_LOG_FORMAT, "PYTHONUNBUFFERED": "1"}
    with subprocess.Popen(command, cwd=app_dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, errors="replace") as child:
        for stop in (signal.SIGTERM, signal.SIGINT):  # ECS stops the container: Streamlit stops cleanly
            signal.signal(stop, lambda number, _frame: child.send_signal(number))
        to_json = JsonLines("streamlit")
        for line in child.stdout:  # type: ignore[union-attr]
            shown = to_json(line)
            if shown is not None:
                print(shown, file=sys.stderr, flush=True)
    sys.exit(child.returncode)
