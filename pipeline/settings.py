"""The training task's configuration (``config/pipeline.yaml``), as frozen dataclasses."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from facemood import config as cfg
from facemood.errors import ConfigError


@dataclass(frozen=True)
class DataSettings:
    """Where the training data comes from and how to split it without a Usage column."""

    uri: str | None = None  # s3://bucket/key, a local path, or None: newest refined object
    refined_prefix: str = "refined/"
    validation_fraction: float = 0.1
    max_rows: int | None = None  # cap on rows read (quick runs); None reads everything

    def __post_init__(self) -> None:
        if not 0.0 < self.validation_fraction < 0.5:
            raise ValueError("data.validation_fraction must be in (0, 0.5)")


@dataclass(frozen=True)
class BucketSettings:
    """Bucket names; environment variables override them."""

    refined: str
    model: str


@dataclass(frozen=True)
class ModelSettings:
    """Architecture of :class:`pipeline.model.EmotionCNN`."""

    widths: tuple[int, ...] = (32, 64, 128, 256)
    convs_per_block: tuple[int, ...] = (1, 2, 2, 2)
    dropout: float = 0.3
    flip_tta: bool = True

    def __post_init__(self) -> None:
        if len(self.widths) != len(self.convs_per_block):
            raise ValueError("model.widths and model.convs_per_block must have the same length")
        if len(self.widths) > 5:
            raise ValueError("model.widths: at most 5 blocks fit a 48x48 input")


@dataclass(frozen=True)
class AugmentSettings:
    """On-the-fly augmentation of training batches."""

    flip: bool = True
    max_rotation_deg: float = 10.0
    max_shift: float = 0.1
    scale_min: float = 0.9
    scale_max: float = 1.1
    erasing_probability: float = 0.25


@dataclass(frozen=True)
class TrainingSettings:
    """Optimisation: SGD with Nesterov momentum under a one-cycle learning-rate schedule."""

    epochs: int = 60
    batch_size: int = 128
    learning_rate: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    label_smoothing: float = 0.1
    class_weight_power: float = 0.3  # loss weight (n_max / n_class) ** power; 0 disables
    early_stopping_patience: int = 15
    seed: int = 42
    threads: int = 2
    bf16: bool = True
    max_batches_per_epoch: int | None = None  # dry runs: stop each epoch early

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 2:
            raise ValueError("training.epochs must be >= 1 and training.batch_size >= 2")


@dataclass(frozen=True)
class GateSettings:
    """The quality gate a model must pass before ``models/latest.json`` points at it."""

    min_validation_accuracy: float = 0.6
    min_macro_f1: float = 0.0


@dataclass(frozen=True)
class PipelineSettings:
    """Everything ``config/pipeline.yaml`` holds."""

    buckets: BucketSettings
    data: DataSettings = field(default_factory=DataSettings)
    output: str | None = None  # s3://bucket[/prefix] or a local directory; None: model bucket
    model: ModelSettings = field(default_factory=ModelSettings)
    augmentation: AugmentSettings = field(default_factory=AugmentSettings)
    training: TrainingSettings = field(default_factory=TrainingSettings)
    gate: GateSettings = field(default_factory=GateSettings)

    @property
    def output_uri(self) -> str:
        """Where bundles are published: ``output`` or the model bucket."""
        return self.output or f"s3://{self.buckets.model}"


def load_settings(path: str | Path | None = None, data_uri: str | None = None,
                  output: str | None = None) -> PipelineSettings:
    """Load the pipeline settings: CLI arguments, then environment, then YAML."""
    settings = cfg.load(PipelineSettings, path or cfg.config_path("pipeline.yaml"))
    buckets = BucketSettings(
        refined=cfg.env_override(settings.buckets.refined, cfg.ENV.REFINED_BUCKET),
        model=cfg.env_override(settings.buckets.model, cfg.ENV.MODEL_BUCKET),
    )
    settings = replace(settings, buckets=buckets)
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
