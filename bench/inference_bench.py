"""Benchmark: inference of a model bundle with onnxruntime on one core.

    python -m bench.inference_bench [--model models/latest.json] [--faces 600] [--photos ../shared/data/wild/dev]

Times single faces (batch of 1, as the page reads one photo's face) on real faces: FER2013
PublicTest faces and faces cut from the real photos by the face step. A bundle with a first pass
(facemood/first_pass.py) answers the faces its first network is sure of and sends the rest to the
whole graph, so the time per face depends on the face: the bench prints the median, mean and 90th
percentile, the share of faces the first pass answered, and the same faces through the whole graph
alone (the two take turns face by face; their ratio is printed), and, for a bundle whose first
pass carries the graph's rest (the faces it refuses read without its own pass again), the same
cascade reading them through the whole graph. Each face is read in three
passes: the one-pass figures and those of each face's fastest pass are printed (on a shared
machine the difference is other processes' time). Also batches of 64.
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
DEFAULT_PHOTOS = REPO.parent / "shared" / "data" / "wild" / "dev"


def per_face_seconds(models: list, faces: np.ndarray, rounds: int) -> np.ndarray:
    """Seconds for each face read alone (batch of 1) by each model, (rounds, models, faces): the
    models take turns face by face, so that each sees the machine as busy as the others (their
    ratio is what to trust here), and each round goes through every face once."""
    for face in faces[:20]:
        for model in models:
            model.predict_proba(face[None])
    times = np.empty((rounds, len(models), len(faces)))
    for round_ in range(rounds):
        for k, face in enumerate(faces):
            for m, model in enumerate(models):
                start = time.perf_counter()
                model.predict_proba(face[None])
                times[round_, m, k] = time.perf_counter() - start
    return times


def describe(times: np.ndarray) -> str:
    """Median, mean and 90th percentile in milliseconds."""
    return (f"median {np.median(times) * 1e3:.2f} ms, mean {np.mean(times) * 1e3:.2f} ms, "
            f"p90 {np.percentile(times, 90) * 1e3:.2f} ms")


def report(name: str, passes: np.ndarray) -> None:
    """Print one model's figures (passes: (rounds, faces)): the first pass, and each face's fastest."""
    print(f"  {name}: one pass {describe(passes[0])}")
    print(f"  {' ' * len(name)}  each face's fastest of {len(passes)}: {describe(passes.min(axis=0))}")


def main() -> None:
    """Time single faces and batches of 64; print."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(REPO / "models" / "latest.json"))
    parser.add_argument("--faces", type=int, default=600, help="PublicTest faces timed one by one")
    parser.add_argument("--photos", default=str(DEFAULT_PHOTOS), help="labelled photos whose faces are timed too "
                        "(the face step cuts them); '' for none")
    parser.add_argument("--rounds", type=int, default=3, help="passes over the faces: on a shared machine a "
                        "face's fastest is its cost on an uncontended core, the slower ones add other processes' time")
    args = parser.parse_args()
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

    from facemood.app_settings import load_app_settings
    from facemood.bundle import load_bundle
    from facemood.photo_set import photo_crops
    from tests.fer2013 import fer2013_path, load_fer2013

    model = load_bundle(args.model, threads=1)
    data = load_fer2013(fer2013_path())
    public = data["pixels"][data["usage"] == "PublicTest"]
    sets = {"PublicTest faces": public[np.random.default_rng(0).permutation(len(public))[:args.faces]]}
    if args.photos and Path(args.photos).is_dir():
        sets[f"faces cut from {Path(args.photos).name}'s photos"] = photo_crops(
            Path(args.photos), load_app_settings().faces).crops
    graph_alone = replace(model, first_pass=None)
    without_rest = (replace(model, first_pass=replace(model.first_pass, rest=None))
                    if model.first_pass is not None and model.first_pass.rest is not None else None)
    flip = model.manifest.section("config").get("model", {}).get("flip_tta")
    print(f"model {model.run_id} ({Path(model.uri).name}), onnxruntime on one core, flip TTA in the graph: {flip}")
    if model.first_pass is not None:
        network = model.manifest.section("first_pass")["network"] + 1
        print(f"first pass: network {network} alone, answers a face when its top "
              f"probability is at least {model.first_pass.exit_probability:g}; the whole graph reads the rest")
    for name, faces in sets.items():
        print(f"{len(faces)} {name}, batch of 1:")
        if model.first_pass is None:
            report("served", per_face_seconds([model], faces, args.rounds)[:, 0])
            continue
        models = [model, graph_alone] + ([without_rest] if without_rest else [])
        times = per_face_seconds(models, faces, args.rounds)
        print(f"  the first pass answers {model.answered_by_first_pass(faces).mean():.1%}")
        report("served", times[:, 0])
        report("the whole graph alone", times[:, 1])
        served, alone = times[0, :2]
        print(f"  served / the graph alone, one pass: mean {np.mean(served) / np.mean(alone):.2f}, median "
              f"{np.median(served) / np.median(alone):.2f}")
        if without_rest:
            report("the cascade without the rest", times[:, 2])
            print(f"  served / the cascade without the rest: mean {np.mean(times[0, 0]) / np.mean(times[0, 2]):.2f} "
                  f"(one pass), {np.mean(times[:, 0].min(axis=0)) / np.mean(times[:, 2].min(axis=0)):.2f} "
                  "(each face's fastest)")
    batch = public[:64]
    start = time.perf_counter()
    rounds = 10
    for _ in range(rounds):
        model.predict_proba(batch)
    per_batch = (time.perf_counter() - start) / rounds
    print(f"batch of 64 PublicTest faces: {64 / per_batch:.0f} faces/s ({per_batch * 1e3:.1f} ms per batch)")


if __name__ == "__main__":
    main()
