"""The training task end to end: load, split, train, export, evaluate, publish."""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

import facemood
from facemood import bundle, registry, telemetry
from facemood.clock import utc_timestamp
from facemood.dataset import load_faces
from facemood.distress import MANIFEST_KEY as DISTRESS_RULE_KEY
from facemood.faces import load_face_settings
from facemood.faceset import FaceSet
from facemood.first_pass import MANIFEST_KEY as FIRST_PASS_KEY
from facemood.manifest import PHOTO_REPORT_KEY, PHOTO_STAGE_KEY, Manifest
from facemood.photo_calibration import MANIFEST_KEY as PHOTO_CALIBRATION_KEY
from facemood.photo_set import PART_NAMES
from pipeline import artifacts
from pipeline.calibration import Calibration, calibrate, remeasured
from pipeline.distill import SoftTargets, teacher_log_probabilities
from pipeline.distress_choice import choose_distress_rule
from pipeline.export import check_parity, export_onnx
from pipeline.first_pass import add_first_pass
from pipeline.int8_import import float_networks
from pipeline.model import EmotionCNN
from pipeline.photo_calibration import fit_photo_calibration, repeated_held_out_readings
from pipeline.photo_finetune import PhotoParts, finetuned_networks, mixed_faces, photo_parts
from pipeline.photo_report import photo_report
from pipeline.promotion import apply_gate, compare_with_served
from pipeline.quantize import check_quantized, quantize_int8
from pipeline.run_data import fingerprint, new_run_id, resolve_data_uri
from pipeline.scores import classification_scores
from pipeline.settings import PipelineSettings
from pipeline.splits import make_splits
from pipeline.train import NO_BUDGET, Checkpointing, History, TimeBudget, fit, native_bf16, resolved_training

log = logging.getLogger(__name__)
PARITY_BATCH = 64
QUANTIZATION_FACES = 512  # Training faces whose activations set the int8 ranges


def build_model(settings: PipelineSettings) -> EmotionCNN:
    """The network the settings describe."""
    return EmotionCNN(settings.model.widths, settings.model.convs_per_block, settings.model.dropout)


def run(settings: PipelineSettings, client: Any = None, workdir: Path | None = None,
        from_checkpoint: Path | None = None, budget: TimeBudget = NO_BUDGET) -> dict[str, Any]:
    """Train each ensemble member (or reload checkpoints), evaluate and publish; returns a summary.

    Each member is a stage: its finished network is kept in ``workdir`` as ``member-<seed>.pt``
    and its epochs as ``member-<seed>.partial.pt``, so a run given the same ``workdir`` again
    resumes where it stopped (the last finished epoch of the member in progress). With a
    ``budget`` the run stops by itself at its first finished epoch past the deadline
    (TimeBudgetReached), to be continued the same way: stages of bounded length.
    """
    settings = replace(settings, training=resolved_training(settings.training, native_bf16()))
    torch.set_num_threads(settings.training.threads)
    data_uri = resolve_data_uri(settings, client)
    started = time.monotonic()
    faces = load_faces(data_uri, client, settings.data.max_rows)
    log.info("loaded %d faces from %s in %.1f s", len(faces), data_uri, time.monotonic() - started)
    splits = make_splits(faces, settings.data.validation_fraction, settings.training.seed)
    data_fingerprint = fingerprint(faces)
    del faces
    run_id = new_run_id(data_fingerprint)
    workdir = Path(workdir or tempfile.mkdtemp(prefix="facemood-train-"))
    workdir.mkdir(parents=True, exist_ok=True)
    if from_checkpoint and from_checkpoint.suffix == ".onnx":
        members = [(net, History()) for net in float_networks(from_checkpoint)]
        log.info("recovered %d network(s) from the int8 graph %s", len(members), from_checkpoint)
    elif from_checkpoint:
        members = [load_member(settings, from_checkpoint)]
    else:
        log.info("run %s: training %d network(s) on %d rows, validating on %d %s rows", run_id,
                 len(settings.model.member_seeds), len(splits.train), len(splits.validation), splits.validation_name)
        members = [train_member(settings, splits, seed, workdir, budget=budget)
                   for seed in settings.model.member_seeds]
        members = served_networks(settings, members, train_distilled(settings, splits, members, workdir, budget))
    photos = photo_stage(settings, splits, members, workdir, budget)
    bundle_dir = workdir / "bundle"
    bundle_dir.mkdir(exist_ok=True)
    return publish(settings, client, members, RunData(splits, data_uri, data_fingerprint), run_id, bundle_dir,
                   photos)


def photo_stage(settings: PipelineSettings, splits, members: list[tuple[nn.Module, History]],
                workdir: Path, budget: TimeBudget = NO_BUDGET) -> PhotoParts | None:
    """The real-photo stage: fine-tune every served network in place on FER2013 mixed with the
    configured photos (each network a resumable stage). Returns the photos' parts (None: off)."""
    if not settings.photo_finetune.photos:
        return None
    parts = photo_parts(settings.photo_finetune, load_face_settings(), workdir / "photos")
    finetuned_networks([m for m, _ in members], mixed_faces(splits.train, parts.train), settings.photo_finetune,
                       settings.batch_transforms, workdir, budget)
    return parts


def load_member(settings: PipelineSettings, path: Path) -> tuple[EmotionCNN, History]:
    """A finished member's network and history from its checkpoint."""
    state = torch.load(path, weights_only=True)
    model = build_model(settings)
    model.load_state_dict(state["model"])
    history = History(**json.loads(state["history"]))
    log.info("reloaded %s (best epoch %d)", path, history.best_epoch)
    return model, history


def train_member(settings: PipelineSettings, splits, seed: int, workdir: Path, role: str = "member",
                 soft_targets: SoftTargets | None = None, budget: TimeBudget = NO_BUDGET) -> tuple[EmotionCNN, History]:
    """Train the network of ``seed`` (or reload it when a previous run finished it).

    Its checkpoints are ``<role>-<seed>.pt`` (finished) and ``<role>-<seed>.partial.pt`` (epochs);
    a distilled network (``soft_targets`` given) also learns from the members' opinion of each face.
    """
    finished = workdir / f"{role}-{seed}.pt"
    if finished.exists():
        return load_member(settings, finished)
    torch.manual_seed(seed)  # the initial weights too: a network does not depend on what ran before
    model = build_model(settings)
    training = replace(settings.training, seed=seed)
    history = fit(model, splits.train, splits.validation, training, settings.batch_transforms,
                  settings.model.flip_tta, checkpoint=Checkpointing(workdir / f"{role}-{seed}.partial.pt", budget),
                  soft_targets=soft_targets)
    partial = finished.with_suffix(".tmp")
    torch.save({"model": model.state_dict(), "history": json.dumps(asdict(history))}, partial)
    partial.replace(finished)  # complete or absent, never half-written
    (workdir / f"{role}-{seed}.partial.pt").unlink(missing_ok=True)
    return model, history


def adopt_old_checkpoint_names(workdir: Path) -> None:
    """Checkpoints written before distilled networks were called so (``student-*.pt``) take their
    new names, so a run started then continues instead of starting them over."""
    for old in sorted(workdir.glob("student-*.pt")):
        new = old.with_name("distilled-" + old.name.removeprefix("student-"))
        if not new.exists():
            old.replace(new)
            log.info("renamed %s to %s", old.name, new.name)


def train_distilled(settings: PipelineSettings, splits, members: list[tuple[EmotionCNN, History]],
                    workdir: Path, budget: TimeBudget = NO_BUDGET) -> list[tuple[EmotionCNN, History]]:
    """Distil the members into each configured network (each a resumable stage, as a member)."""
    distillation = settings.distillation
    if not distillation.distilled_seeds:
        return []
    adopt_old_checkpoint_names(workdir)
    saved = workdir / "distilled-targets.pt"  # the finished members' opinion: computed once, kept like them
    if all((workdir / f"distilled-{seed}.pt").exists() for seed in distillation.distilled_seeds):
        targets = None  # every distilled network finished: the members need not read the faces again
    elif saved.exists():
        targets = SoftTargets(torch.load(saved, weights_only=True), distillation.weight, distillation.temperature)
        log.info("reloaded the distillation targets from %s", saved)
    else:
        started = time.monotonic()
        targets = SoftTargets(teacher_log_probabilities([m.eval() for m, _ in members], splits.train.pixels,
                                                        settings.model.flip_tta, distillation.teacher_zoom_tta,
                                                        settings.training.bf16),
                              distillation.weight, distillation.temperature)
        log.info("the %d member(s) read %d training faces for distillation in %.0f s", len(members),
                 len(splits.train), time.monotonic() - started)
        torch.save(targets.log_probabilities, saved.with_suffix(".tmp"))
        saved.with_suffix(".tmp").replace(saved)  # whole or absent
        budget.check(f"after the members read the training faces for distillation ({saved.name})")
    return [train_member(settings, splits, seed, workdir, "distilled", targets, budget)
            for seed in distillation.distilled_seeds]


def served_networks(settings: PipelineSettings, members: list[tuple[EmotionCNN, History]],
                    distilled: list[tuple[EmotionCNN, History]]) -> list[tuple[EmotionCNN, History]]:
    """The networks the exported graph averages: the members and the distilled ones, or the distilled alone."""
    return members + distilled if settings.distillation.serve_members else distilled


def export_served_model(settings: PipelineSettings, nets: list[EmotionCNN], splits, model_path: Path,
                        tune_photos: FaceSet | None = None) -> tuple[bundle.Bundle, Calibration, dict[str, Any]]:
    """Calibrate ``nets``, export them as one graph, check it against PyTorch, quantize it when
    configured (and check that too), and write what is served to ``model_path``."""
    model = settings.model
    calibration = calibrate(nets, splits.validation, model.flip_tta, model.zoom_tta,
                            settings.calibration.fit_fraction, settings.calibration.bins, settings.training.seed,
                            tune_photos)
    float_path = model_path.parent.parent / "model-float.onnx"  # outside the bundle: only what is served is published
    serving = export_onnx(nets, float_path, model.flip_tta, calibration.temperature, model.zoom_tta)
    float_model = bundle.load_onnx_file(float_path, settings.training.threads)
    export: dict[str, Any] = {"onnx_parity_max_difference": check_parity(
        serving, float_model, splits.validation.pixels[:PARITY_BATCH]), "int8": None}
    if not settings.model.int8:
        shutil.copyfile(float_path, model_path)
        if settings.first_pass.enabled:
            float_model, export["first_pass"] = add_first_pass(settings, nets, splits.validation, float_model,
                                                               model_path, splits.train.pixels[:0], tune_photos,
                                                               calibration.temperature)
        return float_model, calibration, export
    sample = np.random.default_rng(settings.training.seed).permutation(len(splits.train))[:QUANTIZATION_FACES]
    quantization_faces = splits.train.pixels[np.sort(sample)]
    quantize_int8(float_path, model_path, quantization_faces)
    served = bundle.load_onnx_file(model_path, settings.training.threads)
    export["int8"] = check_quantized(float_model, served, splits.validation.pixels)
    if settings.first_pass.enabled:
        served, export["first_pass"] = add_first_pass(settings, nets, splits.validation, served, model_path,
                                                      quantization_faces, tune_photos, calibration.temperature)
    return served, calibration, export


def photo_reading(settings: PipelineSettings, served: bundle.Bundle,
                  photos: PhotoParts | None) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The manifest's photo calibration (:mod:`pipeline.photo_calibration`), fitted on the served
    graph's reading of the calibrating folders' tune persons, and the distress threshold
    (:mod:`pipeline.distress_choice`) chosen on their readings by the calibration fitted without
    them (its cross-validation's, and the same penalty's with other fold seeds); (None, None)
    without such photos."""
    if photos is None or photos.calibration is None or photos.calibration.labels.size == 0:
        return None, None
    crops, stage = photos.calibration, settings.photo_finetune
    probabilities = served.predict_proba(crops.crops)
    fitted = fit_photo_calibration(probabilities, crops.labels, crops.persons, stage.calibration_l2,
                                   stage.calibration_folds, stage.seed)
    if fitted is None:
        return None, None
    calibration = {**fitted.calibration.to_manifest(),
                   "fit": fitted.summary(crops.labels.astype(np.int64), probabilities, settings.calibration.bins)}
    repeats = settings.distress_threshold.fold_repeats
    readings = [fitted.held_out_probabilities, *repeated_held_out_readings(
        probabilities, crops.labels, crops.persons, fitted.l2, stage.calibration_folds,
        [stage.seed + r for r in range(1, repeats)])]
    choice = choose_distress_rule(readings, crops.labels, crops.persons, settings.distress_threshold)
    return calibration, None if choice is None else choice.manifest_entry(settings.distress_threshold)


@dataclass(frozen=True)
class RunData:
    """What a run trained on: the splits, where they came from and their fingerprint."""

    splits: Any  # pipeline.splits.Splits
    uri: str
    fingerprint: str


@dataclass(frozen=True)
class Exported:
    """The export stage: the served graph (loaded as the app loads it), its calibration, the
    export's figures, and the manifest entries of what serves with it: the first pass, the photo
    calibration and the distress rule (each None when the run has none)."""

    model: bundle.Bundle
    calibration: Calibration
    figures: dict[str, Any]
    first_pass: dict[str, Any] | None
    photo_calibration: dict[str, Any] | None = None
    distress_rule: dict[str, Any] | None = None


@dataclass(frozen=True)
class Evaluated:
    """The evaluation stage: the served graph's scores on every FER2013 split it did not train on
    (the validation split first), its reading of the tune photos, and its figures on the report
    persons' photos as the page reads them (each None without photos)."""

    scores: dict[str, dict[str, Any]]
    tune: FaceSet | None
    photo_scores: dict[str, Any] | None
    photo_report: dict[str, Any] | None = None

    @property
    def validation(self) -> dict[str, Any]:
        """The validation split's scores (the gate's and the champion rule's)."""
        return next(iter(self.scores.values()))


@dataclass(frozen=True)
class Decision:
    """The decide stage: the quality gate and the champion rule, and so whether to serve."""

    gate: dict[str, Any]
    champion: dict[str, Any]

    @property
    def accepted(self) -> bool:
        """Served when it passed the gate and the champion rule found no reason against it."""
        return bool(self.gate["passed"]) and not self.champion["reasons"]

    @property
    def reasons(self) -> list[str]:
        """Why it was not served."""
        return list(self.gate["reasons"]) + list(self.champion["reasons"])


def publish(settings: PipelineSettings, client: Any, members: list[tuple[EmotionCNN, History]], data: RunData,
            run_id: str, bundle_dir: Path, photos: PhotoParts | None = None) -> dict[str, Any]:
    """Export, evaluate, decide, write and promote the bundle (each stage returns its value)."""
    splits = data.splits
    exported = export_stage(settings, members, splits, bundle_dir, photos)
    evaluated = evaluate_stage(settings, exported, splits, photos)
    decision = decide_stage(settings, client, splits, evaluated)
    manifest = write_stage(settings, client, members, data, run_id, bundle_dir, (exported, evaluated, decision))
    promote_stage(settings, client, run_id, evaluated, decision)
    return {"run_id": run_id, "bundle": bundle.bundle_uri(settings.output_uri, run_id), "status": manifest.status,
            "gate": decision.gate, "champion": decision.champion, "metrics": dict(manifest.metrics),
            "validation": {"name": splits.validation_name, "accuracy": evaluated.validation["accuracy"],
                           "macro_f1": evaluated.validation["macro_f1"]}}


def tune_faces(photos: PhotoParts | None) -> FaceSet | None:
    """The tune persons' photo crops as faces (None without photos)."""
    return None if photos is None or photos.tune is None else FaceSet(photos.tune.crops, photos.tune.labels)


def export_stage(settings: PipelineSettings, members: list[tuple[EmotionCNN, History]], splits, bundle_dir: Path,
                 photos: PhotoParts | None) -> Exported:
    """Calibrate and export the served graph (int8, with its first pass), load it as the app
    does, remeasure its calibration on the validation rows that did not fit it, and fit what
    serves with it on the tune persons (the photo calibration, the distress rule)."""
    tune = tune_faces(photos)
    onnx_model, calibration, figures = export_served_model(settings, [m.eval() for m, _ in members], splits,
                                                           bundle_dir / bundle.MODEL_NAME, tune)
    first_pass = figures.pop("first_pass", None)  # the manifest's own entry, not a training figure
    calibration = remeasured(calibration, onnx_model.predict_proba(splits.validation.pixels),
                             splits.validation.labels)
    log.info("temperature %.3f: ECE %.2f%% -> %.2f%% on %d validation faces not used to fit it",
             calibration.temperature, 100 * calibration.ece_before, 100 * calibration.ece_after,
             calibration.report_rows)
    return Exported(onnx_model, calibration, figures, first_pass, *photo_reading(settings, onnx_model, photos))


def evaluate_stage(settings: PipelineSettings, exported: Exported, splits, photos: PhotoParts | None) -> Evaluated:
    """The served graph's scores through ONNX Runtime: validation, test (when there is one), tune
    photos, and the report persons' photos read as the page reads them (recorded, never decided on)."""
    model, tune = exported.model, tune_faces(photos)
    scores = {splits.validation_name: classification_scores(splits.validation.labels,
                                                           model.predict_proba(splits.validation.pixels))}
    if splits.test is not None:
        scores[splits.test_name] = classification_scores(splits.test.labels, model.predict_proba(splits.test.pixels))
    photo_scores = None if tune is None else classification_scores(tune.labels, model.predict_proba(tune.pixels))
    report = photo_report(model, None if photos is None else photos.report, exported.photo_calibration,
                          exported.distress_rule, settings.calibration.bins)
    return Evaluated(scores, tune, photo_scores, report)


def decide_stage(settings: PipelineSettings, client: Any, splits, evaluated: Evaluated) -> Decision:
    """The quality gate, then the champion rule against the served model on the same rows and photos."""
    gate = apply_gate(settings, evaluated.validation)
    champion = compare_with_served(settings, client, splits.validation, evaluated.validation, evaluated.tune,
                                   evaluated.photo_scores)
    return Decision(gate, champion)


def manifest_entries(settings: PipelineSettings, members: list[tuple[EmotionCNN, History]], data: RunData,
                     stages: tuple[Exported, Evaluated, Decision]) -> dict[str, Any]:
    """What the run records in its manifest (:class:`facemood.manifest.Manifest` completes and checks it)."""
    exported, evaluated, decision = stages
    splits, history = data.splits, members[0][1]
    return {
        "created": utc_timestamp(),
        "code_version": facemood.__version__,
        "status": "accepted" if decision.accepted else "rejected",
        "gate": decision.gate,
        "champion": decision.champion,
        "data": {
            "uri": data.uri, "fingerprint": data.fingerprint,
            "train_rows": len(splits.train), "validation_rows": len(splits.validation),
            "test_rows": 0 if splits.test is None else len(splits.test),
            "validation_name": splits.validation_name, "test_name": splits.test_name,
            "train_class_counts": splits.train.class_counts().tolist(),
        },
        "training": {"epochs_run": len(history.train_loss), "best_epoch": history.best_epoch,
                     "stopped_early": history.stopped_early, "seconds": round(sum(h.seconds for _, h in members), 1),
                     "threads": settings.training.threads, **exported.figures,
                     "members": [{"epochs_run": len(h.train_loss), "best_epoch": h.best_epoch,
                                  "best_validation_accuracy": max(h.validation_accuracy, default=None),
                                  "seconds": h.seconds} for _, h in members]},
        "config": json.loads(json.dumps(asdict(settings))),
        "metrics": {name: {"accuracy": m["accuracy"], "macro_f1": m["macro_f1"]}
                    for name, m in evaluated.scores.items()},
        "calibration": exported.calibration.summary(),
        # which persons of each photo folder trained and tuned: the real-photo bench reports on the rest
        **({PHOTO_STAGE_KEY: {"split": {"seed": settings.photo_finetune.split_seed,
                                         "parts": list(PART_NAMES), "across_folders": True,
                                         "folders": {Path(f.folder).name: list(f.fractions)
                                                     for f in settings.photo_finetune.photos}},
                               "tune_photos": len(evaluated.tune)}} if evaluated.tune is not None else {}),
        **({PHOTO_CALIBRATION_KEY: exported.photo_calibration} if exported.photo_calibration else {}),
        **({DISTRESS_RULE_KEY: exported.distress_rule} if exported.distress_rule else {}),
        **({FIRST_PASS_KEY: exported.first_pass} if exported.first_pass else {}),
        **({PHOTO_REPORT_KEY: evaluated.photo_report} if evaluated.photo_report else {}),
    }


def write_stage(settings: PipelineSettings, client: Any, members: list[tuple[EmotionCNN, History]], data: RunData,
                run_id: str, bundle_dir: Path, stages: tuple[Exported, Evaluated, Decision]) -> Manifest:
    """Write the bundle's artifacts and publish it, manifest last; returns the manifest as written."""
    exported, evaluated, _ = stages
    splits, history_dict = data.splits, asdict(members[0][1])
    entries = manifest_entries(settings, members, data, stages)
    validation = evaluated.validation
    (bundle_dir / "metrics.json").write_text(json.dumps({
        "evaluations": evaluated.scores, "history": history_dict,
        "calibration": {**exported.calibration.summary(), "reliability_before": exported.calibration.reliability_before,
                        "reliability_after": exported.calibration.reliability_after}}, indent=2))
    artifacts.plot_reliability(exported.calibration, bundle_dir / "calibration.png")
    artifacts.plot_confusion(validation["confusion_matrix"], f"{splits.validation_name} (accuracy "
                             f"{validation['accuracy']:.3f})", bundle_dir / "confusion_matrix.png")
    artifacts.plot_curves(history_dict, bundle_dir / "training_curves.png")
    (bundle_dir / "model_card.md").write_text(artifacts.model_card({**entries, "run_id": run_id}, evaluated.scores))
    return bundle.write_bundle(bundle_dir, settings.output_uri, run_id, entries, client)


def promote_stage(settings: PipelineSettings, client: Any, run_id: str, evaluated: Evaluated,
                  decision: Decision) -> None:
    """Serve the bundle when it was accepted (saying why); else leave ``latest.json`` as it was."""
    root, validation, champion = settings.output_uri, evaluated.validation, decision.champion
    if decision.accepted:
        served = champion.get("served")
        reason = (f"accuracy {validation['accuracy']:.1%} vs served {served['accuracy']:.1%} on the same "
                  f"{champion['rows']} faces" if served else "passed the quality gate; nothing was served")
        if served and "photos" in champion:  # the real photos weighed in: say how
            photos = champion["photos"]
            reason += (f"; {photos['mine']['accuracy']:.1%} vs {photos['served']['accuracy']:.1%} on "
                       f"{photos['rows']} tune photos of real people")
        registry.promote(root, run_id, reason, by="train", client=client)
        log.info("published %s and moved %s (%s)", bundle.bundle_uri(root, run_id), bundle.latest_uri(root), reason)
    else:
        log.warning("run %s rejected (%s); its bundle is kept, latest.json left as it was",
                    run_id, "; ".join(decision.reasons))
    telemetry.record_training(settings.metrics_namespace, validation["accuracy"], validation["macro_f1"],
                              decision.accepted)
