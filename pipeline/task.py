"""The training task's steps behind ``facemood train`` (what the ECS task runs too: the
pipeline image's entrypoint): load the settings, train and publish, print the summary, say
what it means."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

NOT_PROMOTED = 2  # the exit code of a run that was published but not served
RESUME_LATER = 75  # the exit code of a run stopped at its time budget (EX_TEMPFAIL: run it again)


def train_and_publish(config_file: str | None, data_uri: str | None, output: str | None, workdir: Path | None,
                      from_checkpoint: Path | None, dry_run: bool,
                      stop_after_minutes: float | None = None) -> dict[str, Any]:
    """One training run through publishing; returns its summary. With ``stop_after_minutes`` it
    raises TimeBudgetReached at its first checkpointed epoch past that time (``workdir`` keeps the
    checkpoints the next run continues from)."""
    # torch loads only when a run starts (imports inside the function)
    from facemood import storage
    from facemood.errors import ConfigError

    try:
        from pipeline.main import run
        from pipeline.settings import dry_run_settings, load_pipeline_settings
        from pipeline.train import TimeBudget
    except ModuleNotFoundError as exc:  # torch, onnx, scikit-learn...: the train extra
        raise ConfigError(f"training needs the train extra, which is not installed here (no module {exc.name!r}): "
                          "pip install -e '.[train]' (make model installs it)") from exc

    settings = load_pipeline_settings(config_file, data_uri, output)
    if dry_run:
        settings = dry_run_settings(settings)
    if stop_after_minutes is not None and workdir is None:
        raise ConfigError("a time budget (--stop-after) needs --workdir: the next run continues from its checkpoints")
    return run(settings, storage.s3_client(), workdir, from_checkpoint, TimeBudget.minutes(stop_after_minutes))


def report(summary: dict[str, Any]) -> int:
    """Print the summary (stdout), say what it means (stderr); the exit code it deserves."""
    from pipeline.promotion import describe

    print(json.dumps(summary, indent=2, default=str))
    print(describe(summary), file=sys.stderr)
    return 0 if summary["status"] == "accepted" else NOT_PROMOTED
