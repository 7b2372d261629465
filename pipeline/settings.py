"""The training task's configuration (``config/pipeline.yaml``), as frozen dataclasses.

Every value comes from the YAML (an overlay such as ``config/model-fer2013.yaml`` extends
it); the classes have no defaults of their own.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import ClassVar

from facemood import config as cfg
from facemood.distress import COMBINES
from facemood.emotions import EMOTIONS
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
    zoom_tta: float  # > 1: each face is also read this much closer (centre scaled up, cropped back)
    member_seeds: tuple[int, ...]  # one network per seed, trained in turn; the exported graph averages them
    int8: bool  # publish the graph quantized to int8 (onnxruntime static quantization)

    def __post_init__(self) -> None:
        cfg.check_range("zoom_tta", self.zoom_tta, 1.0, 1.5)
        if not 1 <= len(self.member_seeds) <= 8 or len(set(self.member_seeds)) != len(self.member_seeds):
            raise ValueError("model.member_seeds must list 1 to 8 different seeds")
        if len(self.widths) != len(self.convs_per_block):
            raise ValueError("model.widths and model.convs_per_block must have the same length")
        if len(self.widths) > 5:
            raise ValueError("model.widths: at most 5 blocks fit a 48x48 input")
        for width in self.widths:
            cfg.check_range("widths", width, 1, 1024)
        for convs in self.convs_per_block:
            cfg.check_range("convs_per_block", convs, 1, 8)
        cfg.check_range("dropout", self.dropout, 0.0, 1.0)


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

    def __post_init__(self) -> None:
        cfg.check_range("rotation_deg", self.rotation_deg, 0.0, 180.0)
        cfg.check_range("shift_fraction", self.shift_fraction, 0.0, 0.5)
        cfg.check_range("scale_min", self.scale_min, 0.0, open_low=True)
        cfg.check_range("scale_max", self.scale_max, self.scale_min)
        cfg.check_range("erasing_probability", self.erasing_probability, 0.0, 1.0)


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
        cfg.check_range("epochs", self.epochs, 1)
        cfg.check_range("batch_size", self.batch_size, 2)
        cfg.check_range("learning_rate", self.learning_rate, 0.0, 10.0, open_low=True)
        cfg.check_range("momentum", self.momentum, 0.0, 1.0)
        cfg.check_range("weight_decay", self.weight_decay, 0.0, 1.0)
        cfg.check_range("label_smoothing", self.label_smoothing, 0.0, 0.99)
        cfg.check_range("class_weight_power", self.class_weight_power, 0.0, 2.0)
        cfg.check_range("early_stopping_patience", self.early_stopping_patience, 1)
        cfg.check_range("threads", self.threads, 1, 256)
        if self.max_batches_per_epoch is not None:
            cfg.check_range("max_batches_per_epoch", self.max_batches_per_epoch, 1)


@dataclass(frozen=True)
class DistillationSettings:
    """Distilled networks: trained after the members on the members' averaged opinion of each
    training face as well as its label (see :mod:`pipeline.distill`)."""

    RENAMED_KEYS: ClassVar[dict[str, str]] = {"student_seeds": "distilled_seeds"}

    distilled_seeds: tuple[int, ...]  # one distilled network per seed; none: no distillation
    weight: float  # share of a distilled network's loss that follows the members; the rest follows the labels
    temperature: float  # softens both distributions before they are compared
    teacher_zoom_tta: float  # the members read each training face this much closer too (1: not)
    serve_members: bool  # the exported graph averages the members as well as the distilled networks

    def __post_init__(self) -> None:
        if len(self.distilled_seeds) > 8 or len(set(self.distilled_seeds)) != len(self.distilled_seeds):
            raise ValueError("distillation.distilled_seeds must list at most 8 different seeds")
        cfg.check_range("weight", self.weight, 0.0, 1.0)
        cfg.check_range("temperature", self.temperature, 0.0, 20.0, open_low=True)
        cfg.check_range("teacher_zoom_tta", self.teacher_zoom_tta, 1.0, 1.5)
        if not self.distilled_seeds and not self.serve_members:
            raise ValueError("distillation.serve_members: false needs distilled_seeds (else nothing is served)")


@dataclass(frozen=True)
class PhotoFolder:
    """A folder of labelled real photos (``labels.csv``), split by person into the parts that
    train, tune (temperature, thresholds) and report."""

    folder: str
    fractions: tuple[float, float, float]  # train, tune, report (each person in one part)
    calibrates: bool = True  # its tune part fits the photo calibration: it holds every expression as photos do

    def __post_init__(self) -> None:
        if len(self.fractions) != 3:
            raise ValueError("photo_finetune.photos: fractions lists three shares: train, tune, report")
        for part in self.fractions:
            cfg.check_range("fractions", part, 0.0, 1.0)
        if not self.fractions[0] > 0:
            raise ValueError("photo_finetune.photos: the train fraction must be above 0")


# one attribute per key of the configuration section it mirrors
@dataclass(frozen=True)
class PhotoFinetuneSettings:  # pylint: disable=too-many-instance-attributes
    """The real-photo stage (:mod:`pipeline.photo_finetune`): off while ``photos`` is empty."""

    photos: tuple[PhotoFolder, ...]
    split_seed: int  # of the person split
    epochs: int  # passes over FER2013 Training
    batch_size: int
    photo_share: float  # share of each batch drawn from the real photos
    learning_rate: float  # SGD with Nesterov momentum, cosine decay to zero
    weight_decay: float
    label_smoothing: float
    degrade_probability: float  # share of faces given each photo degradation
    weight_mix: float  # share of the fine-tuned weights kept (the rest: the weights the stage started from)
    seed: int
    calibration_l2: tuple[float, ...] = (0.0, 1.0, 3.0, 10.0, 30.0, 100.0)  # the photo calibration's penalties
    calibration_folds: int = 5  # person folds that choose among them

    def __post_init__(self) -> None:
        cfg.check_range("weight_mix", self.weight_mix, 0.0, 1.0)
        if not self.calibration_l2:
            raise ValueError("photo_finetune.calibration_l2 must list at least one penalty")
        for l2 in self.calibration_l2:
            cfg.check_range("calibration_l2", l2, 0.0, 1e6)
        cfg.check_range("calibration_folds", self.calibration_folds, 2, 20)
        cfg.check_range("epochs", self.epochs, 1, 100)
        cfg.check_range("batch_size", self.batch_size, 4, 4096)
        cfg.check_range("photo_share", self.photo_share, 0.0, 1.0, open_low=True)
        cfg.check_range("learning_rate", self.learning_rate, 0.0, 1.0, open_low=True)
        cfg.check_range("weight_decay", self.weight_decay, 0.0, 1.0)
        cfg.check_range("label_smoothing", self.label_smoothing, 0.0, 0.99)
        cfg.check_range("degrade_probability", self.degrade_probability, 0.0, 1.0)


@dataclass(frozen=True)
class DistressRuleSettings:
    """How the pipeline chooses the distress threshold a bundle carries (:mod:`pipeline.distress_choice`)."""

    emotions: tuple[str, ...]
    combines: tuple[str, ...]  # the scores tried (facemood.distress.COMBINES)
    target_precision: float
    target_recall: float
    candidates: tuple[float, ...]
    bootstrap_draws: int
    fold_repeats: int  # held-out readings of the tune persons (the photo calibration's folds, other seeds)
    seed: int

    def __post_init__(self) -> None:
        unknown = [e for e in self.emotions if e not in EMOTIONS]
        if not self.emotions or unknown:
            raise ValueError(f"emotions must be some of {', '.join(EMOTIONS)}"
                             + (f"; {unknown[0]!r} is not one" if unknown else ""))
        wrong = [c for c in self.combines if c not in COMBINES]
        if not self.combines or wrong:
            raise ValueError(f"combines must be some of {', '.join(COMBINES)}"
                             + (f"; {wrong[0]!r} is not one" if wrong else ""))
        cfg.check_range("target_precision", self.target_precision, 0.0, 1.0)
        cfg.check_range("target_recall", self.target_recall, 0.0, 1.0)
        if not self.candidates:
            raise ValueError("candidates must list at least one threshold")
        for candidate in self.candidates:
            cfg.check_range("candidates", candidate, 0.0, 1.0)
        cfg.check_range("bootstrap_draws", self.bootstrap_draws, 100, 100000)
        cfg.check_range("fold_repeats", self.fold_repeats, 1, 100)


@dataclass(frozen=True)
class FirstPassSettings:
    """Whether the bundle carries a first pass, and how its exit probability is chosen
    (:mod:`pipeline.first_pass`)."""

    enabled: bool
    exit_candidates: tuple[float, ...]  # top probabilities tried, lowest first: the lowest that holds is chosen
    max_accuracy_loss: float  # the cascade may read the validation fit rows (and tune photos) this much worse
    max_ece_increase: float  # and its ECE on those rows may be this much above the graph's

    def __post_init__(self) -> None:
        if not self.exit_candidates:
            raise ValueError("exit_candidates must list at least one probability")
        for candidate in self.exit_candidates:
            cfg.check_range("exit_candidates", candidate, 0.0, 1.0, open_low=True)
        cfg.check_range("max_accuracy_loss", self.max_accuracy_loss, 0.0, 0.05)
        cfg.check_range("max_ece_increase", self.max_ece_increase, 0.0, 0.05)


@dataclass(frozen=True)
class GateSettings:
    """The quality gate a model must pass before ``models/latest.json`` points at it."""

    min_validation_accuracy: float
    min_macro_f1: float
    served_margin: float  # a run may trail the served model on its validation rows by at most this
    served_photo_margin: float  # ... and on its tune photos (runs with real photos) by at most this

    def __post_init__(self) -> None:
        cfg.check_range("min_validation_accuracy", self.min_validation_accuracy, 0.0, 1.0)
        cfg.check_range("min_macro_f1", self.min_macro_f1, 0.0, 1.0)
        cfg.check_range("served_margin", self.served_margin, 0.0, 1.0)
        cfg.check_range("served_photo_margin", self.served_photo_margin, 0.0, 1.0)


@dataclass(frozen=True)
class CalibrationSettings:
    """Temperature scaling: fitted on a share of the validation rows, reported on the rest."""

    fit_fraction: float  # of each label's validation rows; the others report the ECE
    bins: int  # of the top probability, for the expected calibration error

    def __post_init__(self) -> None:
        cfg.check_range("fit_fraction", self.fit_fraction, 0.1, 0.9)
        cfg.check_range("bins", self.bins, 2, 100)


# one attribute per key of the configuration section it mirrors
@dataclass(frozen=True)
class PipelineSettings:  # pylint: disable=too-many-instance-attributes
    """Everything ``config/pipeline.yaml`` holds."""

    buckets: cfg.Buckets
    data: DataSettings
    output: str | None  # s3://bucket[/prefix] or a local directory; None: model bucket
    model: ModelSettings
    batch_transforms: BatchTransformSettings
    training: TrainingSettings
    distillation: DistillationSettings
    photo_finetune: PhotoFinetuneSettings
    distress_threshold: DistressRuleSettings
    first_pass: FirstPassSettings
    calibration: CalibrationSettings
    gate: GateSettings
    metrics_namespace: str  # CloudWatch namespace of the run's EMF metrics

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
