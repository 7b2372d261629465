"""Bundle artifacts: confusion-matrix and training-curve plots, the model card."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from facemood.distress import LEGACY_COMBINE
from facemood.emotions import EMOTIONS


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_confusion(matrix: list[list[int]], title: str, path: Path) -> None:
    """Save a row-normalised confusion matrix with counts to ``path``."""
    plt = _pyplot()
    counts = np.asarray(matrix)
    rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(7, 6))
    ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(EMOTIONS)), EMOTIONS, rotation=45, ha="right")
    ax.set_yticks(range(len(EMOTIONS)), EMOTIONS)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    for i in range(len(EMOTIONS)):
        for j in range(len(EMOTIONS)):
            ax.text(j, i, f"{rates[i, j]:.2f}\n{counts[i, j]}", ha="center", va="center", fontsize=7,
                    color="white" if rates[i, j] > 0.5 else "black")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_curves(history: dict[str, Any], path: Path) -> None:
    """Save loss and accuracy per epoch (training and validation) to ``path``."""
    plt = _pyplot()
    epochs = range(1, len(history["train_loss"]) + 1)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(epochs, history["train_loss"], label="training")
    left.plot(epochs, history["validation_loss"], label="validation")
    left.set_title("loss")
    right.plot(epochs, history["train_accuracy"], label="training (augmented)")
    right.plot(epochs, history["validation_accuracy"], label="validation")
    right.axvline(history["best_epoch"], color="grey", linestyle=":", label="selected epoch")
    right.set_title("accuracy")
    for ax in (left, right):
        ax.set_xlabel("epoch")
        ax.legend()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _metrics_table(metrics: dict[str, Any]) -> str:
    rows = ["| emotion | precision | recall | F1 | support |", "| --- | ---: | ---: | ---: | ---: |"]
    for name, entry in metrics["per_class"].items():
        rows.append(f"| {name} | {entry['precision']:.3f} | {entry['recall']:.3f} | {entry['f1']:.3f} "
                    f"| {entry['support']} |")
    return "\n".join(rows)


def plot_reliability(calibration: Any, path: Path) -> None:
    """Save the reliability diagram (accuracy against confidence per bin, before and after the
    temperature) of a :class:`pipeline.calibration.Calibration` to ``path``."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 5.5))
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfectly calibrated")
    for table, ece, label, marker in (
            (calibration.reliability_before, calibration.ece_before, "before", "o"),
            (calibration.reliability_after, calibration.ece_after, f"T = {calibration.temperature:.2f}", "s")):
        used = [row for row in table if row["count"]]
        ax.plot([r["confidence"] for r in used], [r["accuracy"] for r in used], marker=marker,
                label=f"{label}: ECE {100 * ece:.1f}%")
    ax.set_xlabel("confidence (top probability)")
    ax.set_ylabel("accuracy")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_title(f"Reliability on {calibration.report_rows} validation faces not used to fit T")
    ax.legend(loc="upper left")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _calibration_text(calibration: dict[str, Any]) -> str:
    """One paragraph on the temperature and the ECE it gives."""
    if not calibration:
        return "Not calibrated."
    return (f"Temperature **{calibration['temperature']:.3f}** (inside `model.onnx`), fitted on "
            f"{calibration['fit_rows']} validation faces. On the other {calibration['report_rows']}: expected "
            f"calibration error ({calibration['bins']} bins, top probability) "
            f"**{100 * calibration['ece_after']:.2f}%** "
            f"(before: {100 * calibration['ece_before']:.2f}%); negative log-likelihood "
            f"{calibration['nll_after']:.3f} (before: {calibration['nll_before']:.3f}). See `calibration.png`.")


def _champion_text(champion: dict[str, Any]) -> str:
    """One paragraph: how this run compared with the model served when it finished."""
    if not champion.get("served_run_id"):
        return "No model was served when this run finished: the quality gate alone decided."
    served = champion["served"]
    verdict = ("**Rejected**: " + "; ".join(champion["reasons"]) if champion["reasons"]
               else "At least as good as the served model")
    return (f"{verdict} (served `{champion['served_run_id']}`: accuracy {served['accuracy']:.1%}, macro-F1 "
            f"{served['macro_f1']:.1%} on the same {champion['rows']} validation faces; margin "
            f"{champion['margin']}).")


def _distillation_lines(config: dict[str, Any]) -> list[str]:
    """What the card says of the distilled networks (knowledge distillation), if the run had any."""
    distillation = config.get("distillation") or {}
    # bundles written before the rename carry student_seeds
    distilled = len(distillation.get("distilled_seeds", distillation.get("student_seeds", [])))
    if not distilled:
        return []
    members = len(config["model"]["member_seeds"])
    plural = "s" if distilled > 1 else ""
    last = f"the last {distilled} networks" if distilled > 1 else "the last network"
    who = (f"{last} learned from the {members} member(s) before it" if distillation["serve_members"]
           else f"the served network{plural} learned from {members} member(s) the run trained and does not serve")
    return [f"- Distillation: {who}: each training face's loss mixes its label ({1 - distillation['weight']:.0%}) "
            f"with the members' mean opinion of it over their views ({distillation['weight']:.0%}, softened at "
            f"temperature {distillation['temperature']})."]


def _photo_lines(manifest: dict[str, Any]) -> list[str]:
    """What the card says of the real-photo stage, if the run had one."""
    stage = manifest.get("photo_finetune")
    if not stage:
        return []
    config = manifest.get("config", {}).get("photo_finetune", {})
    folders = ", ".join(f"`{name}` (persons split train/tune/report {'/'.join(f'{f:g}' for f in fractions)})"
                        for name, fractions in stage["split"]["folders"].items())
    return [f"- Real photos: each network then trained {config.get('epochs')} more passes over FER2013 with "
            f"{config.get('photo_share', 0):.0%} of each batch drawn from real photos cut by the face step's own "
            f"detector ({folders}; split seed {stage['split']['seed']}), degraded as phone photos are; "
            f"{config.get('weight_mix', 1.0):.0%} of the fine-tuned weights kept. {stage['tune_photos']} tune "
            "photos joined the temperature's fit. Real photos: a subset of `muxspace/facial_expressions` "
            "(Apache License 2.0; images from Labeled Faces in the Wild), crowd labels.",
            *_photo_calibration_lines(manifest), *_distress_threshold_lines(manifest)]


def _distress_threshold_lines(manifest: dict[str, Any]) -> list[str]:
    """What the card says of the distress threshold the bundle carries, if the run chose one."""
    entry = manifest.get("distress_threshold")
    if not entry:
        return []
    emotions = "+".join(entry["emotions"])
    targets = f"precision >= {entry['target_precision']:.0%} at recall >= {entry['target_recall']:.0%}"
    where = (f"{entry['photos']} tune photos ({entry['distress_photos']} distressed) of {entry['persons']} persons, "
             "each read by the photo calibration fitted without them")
    if entry["threshold"] is None:
        return [f"- Distress threshold: none chosen (no candidate reached {targets} on {where}); the app's "
                "fallback applies."]
    combine = entry.get("combine", LEGACY_COMBINE)
    row = next(c for c in entry["candidates"]
               if c["threshold"] == entry["threshold"] and c.get("combine", LEGACY_COMBINE) == combine)
    how = "together" if combine == "sum" else "the likeliest of them alone"
    tried = sorted({c.get("combine", LEGACY_COMBINE) for c in entry["candidates"]})
    return [f"- Distress rule ({emotions}, {how}; what the page's help box uses unless config/app.yaml "
            f"sets a threshold): {entry['threshold']:g}, the candidate (of the {' and '.join(tried)} scores) "
            f"meeting {targets} most often over {entry['bootstrap_draws']} person resamples of "
            f"{entry['readings']} held-out readings ({row['chance']:.0%}); precision {row['precision']:.1%} and "
            f"recall {row['recall']:.1%} on {where} (means over the readings)."]


def _first_pass_lines(manifest: dict[str, Any]) -> list[str]:
    """What the card says of the first pass, if the bundle carries one (facemood/first_pass.py)."""
    entry = manifest.get("first_pass")
    if not entry:
        return []
    photos = (f"; on the {manifest.get('photo_finetune', {}).get('tune_photos', '')} tune photos it answers "
              f"{entry['tune_photos_exits']:.1%} ({entry['tune_photos_accuracy']:.1%} right, the graph alone "
              f"{entry['tune_photos_graph_accuracy']:.1%})" if "tune_photos_exits" in entry else "")
    return [f"- First pass: network {entry['network'] + 1} of {entry['networks_in_graph']} reads each face alone "
            f"first (temperature {entry['temperature']:.3f}, `first-pass.onnx`); a face it gives a probability of at "
            f"least {entry['exit_probability']:g} is answered by it"
            + (f" (its probabilities read at temperature {entry['answer_temperature']:.3f}, fitted on the faces it "
               "answers)" if "answer_temperature" in entry else "")
            + (", every other face by the whole graph"
               + (f" (its {entry['rest_passes']} other passes, `first-pass-rest.onnx`, with the first pass's "
                  "reading as the pass it has made)" if "rest_passes" in entry else "") + ". On the ")
            + f"{manifest['data']['validation_name']} rows that fit the temperature it answers {entry['exits']:.1%} "
            f"of faces, and the cascade reads them {entry['accuracy']:.2%} right (the graph alone "
            f"{entry['graph_accuracy']:.2%}){photos}. Every figure below is the cascade's, as served."]


def _photo_calibration_lines(manifest: dict[str, Any]) -> list[str]:
    """What the card says of the photo calibration, if the run fitted one."""
    entry = manifest.get("photo_calibration")
    if not entry:
        return []
    fit, held = entry["fit"], entry["fit"]["held_out"]
    shifts = ", ".join(f"{name} {value:+.2f}" for name, value in entry["shift"].items())
    return [f"- Photo calibration (what the app and `facemood predict` read; FER2013 figures above are the graph's): "
            f"temperature {entry['temperature']:.2f} and log-probability shifts {shifts}, fitted on {fit['photos']} "
            f"tune photos of {fit['persons']} persons (L2 {fit['l2']:g}, chosen by person cross-validation). On "
            f"those persons, each read by the map fitted without them: accuracy {held['accuracy_before']:.1%} -> "
            f"{held['accuracy_after']:.1%}, macro-F1 {held['macro_f1_before']:.1%} -> {held['macro_f1_after']:.1%}. "
            "FER2013's faces read through it lose accuracy (its expressions come in other proportions)."]


def _network_line(index: int, member: dict[str, Any], validation_name: str) -> str:
    """One network's training, or where it came from when this run did not train it."""
    if member["best_validation_accuracy"] is None:
        return f"- Network {index + 1}: taken from the int8 graph the run started from (`--from-checkpoint`)."
    return (f"- Network {index + 1}: {member['epochs_run']} epochs run, weights of epoch {member['best_epoch']} kept "
            f"(best {validation_name} accuracy {member['best_validation_accuracy']:.4f}), {member['seconds']:.0f} s")


def _data_lines(manifest: dict[str, Any]) -> list[str]:
    """The card's data section."""
    data = manifest["data"]
    return [
        "## Data",
        f"- Source: `{data['uri']}` (sha256 of the loaded arrays `{data['fingerprint'][:16]}...`).",
        f"- Training rows: {data['train_rows']}; {data['validation_name']} rows (selection and early "
        f"stopping): {data['validation_rows']}"
        + (f"; {data['test_name']} rows (scored once): {data['test_rows']}" if data.get("test_rows") else "") + ".",
        f"- Training class counts: {dict(zip(EMOTIONS, data['train_class_counts']))}.",
    ]


def _training_lines(manifest: dict[str, Any]) -> list[str]:
    """The card's training section: the networks, the stages after them, and the graph."""
    data, training = manifest["data"], manifest["training"]
    return [
        "## Training",
        *[_network_line(i, m, data["validation_name"]) for i, m in enumerate(training.get("members", []))],
        *_distillation_lines(manifest.get("config", {})),
        *_photo_lines(manifest),
        f"- {training['seconds']:.0f} s in all on {training['threads']} CPU threads.",
        "- Augmentation on the fly (flip, rotation, scale, shift, erasing); class-weighted, label-smoothed "
        "cross-entropy; one-cycle SGD. Predictions average the networks and, for each, the face and its "
        "mirror image" + (f", both also seen {manifest['config']['model']['zoom_tta']}x closer"
                          if manifest.get("config", {}).get("model", {}).get("zoom_tta", 1.0) > 1.0 else "")
        + f", inside the graph; the temperature {manifest.get('calibration', {}).get('temperature', 1.0):.3f} divides "
        "each view's logits"
        + (f"; the graph is quantized to int8 (probabilities within {training['int8']['max_probability_difference']}"
           f" of the float graph's, top emotion kept on {training['int8']['top_agreement']:.1%} of "
           f"{data['validation_name']} faces)." if training.get("int8") else "."),
        *_first_pass_lines(manifest),
    ]


def model_card(manifest: dict[str, Any], evaluations: dict[str, dict[str, Any]]) -> str:
    """The model card (Markdown): data, splits, metrics, intended use, limitations."""
    members = manifest["training"].get("members", [1])
    sections = [
        f"# FaceMood emotion model `{manifest['run_id']}`",
        ("A small convolutional network" if len(members) == 1
         else f"An ensemble of {len(members)} small convolutional networks")
        + " that reads a 48x48 grayscale face and gives the "
        "probability of each of seven expressions: " + ", ".join(EMOTIONS) + ".",
        *_data_lines(manifest),
        *_training_lines(manifest),
        "## Metrics",
    ]
    for name, metrics in evaluations.items():
        sections += [f"### {name}", f"Accuracy **{metrics['accuracy']:.4f}**, macro-F1 **{metrics['macro_f1']:.4f}** "
                     f"on {metrics['count']} faces.", "", _metrics_table(metrics)]
    gate = manifest["gate"]
    sections += [
        "## Quality gate",
        ("Passed" if gate["passed"] else "**Rejected**: " + "; ".join(gate["reasons"]))
        + f" (thresholds: {gate['thresholds']}).",
        "## Calibration",
        _calibration_text(manifest.get("calibration", {})),
        "## Against the served model",
        _champion_text(manifest.get("champion", {})),
        "## Intended use",
        "A well-being check-in for students: the app shows how a face photo reads and, when it reads as "
        "distressed, points to counselling resources. It is **not a diagnosis** of mood or mental health, "
        "and must not be used to make decisions about a person.",
        "## Limitations",
        "- FER2013 faces were collected by web image search: mostly posed or staged expressions, "
        "skewed towards younger, lighter-skinned adults; accuracy on other groups is not measured here.",
        "- About a third of FER2013 labels disagree with crowd re-annotation (FER+); human agreement "
        "on this data is about 65%.",
        "- Disgust is rare (about 1.5% of training faces), so its recall is the least reliable.",
        "- An expression is not a feeling: people mask, perform and differ in how they show emotion.",
    ]
    return "\n\n".join(sections) + "\n"
