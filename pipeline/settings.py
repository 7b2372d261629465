"""The training task's configuration (``config/pipeline.yaml``), as frozen dataclasses.

Every value comes from the YAML (an overlay such as ``config/model-fer2013.yaml`` extends
it); the classes have no defaults of their own.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from facemood import config as cfg
from facemood.errors import ConfigError


@dataclass(frozen=True)
class DataSettings:
    """Where the training data comes from and how to split it without a Usage column."""

    uri: str | None  # s3://bucket/key, a local path, or None: newest refined object
    refined_prefix: str
    validation_fraction: float
    max_rows: int | None  # cap on rows read (quick runs); None reads everything

    def __post_init__(self) -> None:
        if not 0.0 < self.validation_fraction < 0.5:
            raise ValueError("data.validation_fraction must be in (0, 0.5)")


@dataclass(frozen=True)
class ModelSettings:
    """Architecture of :class:`pipeline.model.EmotionCNN`."""

    widths: tuple[int, ...]
    convs_per_block: tuple[int, ...]
    dropout: float
    flip_tta: bool

    def __post_init__(self) -> None:
        if len(self.widths) != len(self.convs_per_block):
            raise ValueError("model.widths and model.convs_per_block must have the same length")
        if len(self.widths) > 5:
            raise ValueError("model.widths: at most 5 blocks fit a 48x48 input")


@dataclass(frozen=True)
class BatchTransformSettings:
    """Random transforms of each training batch, on the fly (named like
    :class:`facemood.transforms.TransformSettings`, which makes the refined copies)."""

    flip: bool
    rotation_deg: float
    shift_fraction: float
    scale_min: float
    scale_max: float
    erasing_probability: float


@dataclass(frozen=True)
class TrainingSettings:
    """Optimisation: SGD with Nesterov momentum under a one-cycle learning-rate schedule."""

    epochs: int
    batch_size: int
    learning_rate: float
    momentum: float
    weight_decay: float
    label_smoothing: float
    class_weight_power: float  # loss weight (n_max / n_class) ** power; 0 disables
    early_stopping_patience: int
    seed: int
    threads: int
    bf16: bool
    max_batches_per_epoch: int | None  # dry runs: stop each epoch early

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 2:
            raise ValueError("training.epochs must be >= 1 and training.batch_size >= 2")


@dataclass(frozen=True)
class GateSettings:
    """The quality gate a model must pass before ``models/latest.json`` points at it."""

    min_validation_accuracy: float
    min_macro_f1: float


@dataclass(frozen=True)
class PipelineSettings:
    """Everything ``config/pipeline.yaml`` holds."""

    buckets: cfg.Buckets
    data: DataSettings
    output: str | None  # s3://bucket[/prefix] or a local directory; None: model bucket
    model: ModelSettings
    batch_transforms: BatchTransformSettings
    training: TrainingSettings
    gate: GateSettings

    @property
    def output_uri(self) -> str:
        """Where bundles are published: ``output`` or the model bucket."""
        return self.output or f"s3://{self.buckets.model}"


def load_pipeline_settings(path: str | Path | None = None, data_uri: str | None = None,
                           output: str | None = None) -> PipelineSettings:
    """Load the pipeline settings: CLI arguments, then environment, then YAML."""
    settings = cfg.load(PipelineSettings, path or cfg.config_path("pipeline.yaml"),
                        overrides=cfg.BUCKET_OVERRIDES)
    if data_uri:
        settings = replace(settings, data=replace(settings.data, uri=data_uri))
    if output:
        settings = replace(settings, output=output)
    if not settings.buckets.model and not settings.output:
        raise ConfigError("no model bucket: set buckets.model or FACEMOOD_MODEL_BUCKET")
    return settings


def dry_run_settings(settings: PipelineSettings) -> PipelineSettings:
    """One epoch of one batch, no early stop: exercises the whole task in seconds."""
    return replace(settings, training=replace(settings.training, epochs=1, max_batches_per_epoch=1))
