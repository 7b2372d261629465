"""The first pass (facemood.first_pass, pipeline.first_pass): one network answers the faces it is
sure of, the whole graph reads the rest."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

import numpy as np
import pytest
import torch

from facemood import bundle, registry
from facemood.bundle import graph_input
from facemood.config import REPO_ROOT
from facemood.errors import BundleIntegrityError
from facemood.first_pass import FILE_NAME, REST_FILE_NAME, FirstPassEntry, read_first_pass, run_graph
from facemood.photo_calibration import rescaled
from pipeline import main as pipeline_main
from pipeline.export import export_onnx, export_onnx_module
from pipeline.first_pass import Judged, exit_choice, fit_answer_temperature
from pipeline.model import EmotionCNN, ServingRest
from pipeline.settings import load_pipeline_settings
from tests.test_training import MODELS, REFINED, TINY, model_keys, upload_refined


def tiny_graph(path, seed: int) -> None:
    """A small untrained network exported as a graph (different seeds answer differently)."""
    torch.manual_seed(seed)
    export_onnx([EmotionCNN(widths=(8, 16), convs_per_block=(1, 1)).eval()], path, False, 0.05)


@pytest.fixture(name="graphs")
def graphs_fixture(tmp_path):
    """Two different small graphs: the whole one and a first pass."""
    whole, first = tmp_path / "model.onnx", tmp_path / FILE_NAME
    tiny_graph(whole, 1)
    tiny_graph(first, 2)
    return whole, first


def test_sure_faces_take_the_first_pass_and_the_rest_the_whole_graph(graphs, real_faces) -> None:
    whole, first = graphs
    faces = real_faces["pixels"][:200]
    graph = bundle.load_onnx_file(whole).predict_proba(faces)
    alone = bundle.load_onnx_file(first).predict_proba(faces)
    exit_at = float(np.median(alone.max(axis=1)))  # about half the faces are sure
    cascade = bundle.load_onnx_file(whole, first_pass=(first, exit_at, 1.0)).predict_proba(faces, batch_size=64)
    sure = alone.max(axis=1) >= exit_at
    assert 0 < sure.sum() < len(faces)
    served = bundle.load_onnx_file(whole, first_pass=(first, exit_at, 1.0))
    assert np.array_equal(served.answered_by_first_pass(faces), sure)
    np.testing.assert_allclose(cascade[sure], alone[sure], atol=1e-6)
    np.testing.assert_allclose(cascade[~sure], graph[~sure], atol=1e-6)
    assert not np.allclose(graph, alone, atol=1e-3)  # the two graphs really differ
    # a first pass that is never sure changes nothing
    np.testing.assert_allclose(bundle.load_onnx_file(whole, first_pass=(first, 1.0, 1.0)).predict_proba(faces), graph,
                               atol=1e-6)
    # an answer temperature tempers the first pass's answers only, and never changes which expression
    tempered = bundle.load_onnx_file(whole, first_pass=(first, exit_at, 2.0)).predict_proba(faces)
    np.testing.assert_allclose(tempered[sure], rescaled(alone[sure], 2.0), atol=1e-6)
    np.testing.assert_allclose(tempered[~sure], graph[~sure], atol=1e-6)
    assert np.array_equal(tempered.argmax(axis=1), cascade.argmax(axis=1))
    assert tempered[sure].max(axis=1).mean() < cascade[sure].max(axis=1).mean()


def test_the_graphs_rest_with_the_first_pass_reads_a_refused_face_as_the_whole_graph(tmp_path, real_faces) -> None:
    # three networks, each on the face and its mirror at the graph's temperature; network 1 reads
    # first at a temperature of its own. The rest leaves out its pass on the face as it is.
    torch.manual_seed(3)
    nets = [EmotionCNN(widths=(8, 16), convs_per_block=(1, 1)).eval() for _ in range(3)]
    graph_temperature, own_temperature = 0.05, 0.08
    whole, first, rest = tmp_path / "model.onnx", tmp_path / FILE_NAME, tmp_path / REST_FILE_NAME
    export_onnx(nets, whole, True, graph_temperature)
    export_onnx([nets[1]], first, False, own_temperature)
    serving_rest = ServingRest(nets, 1, True, graph_temperature).eval()
    assert serving_rest.rest_passes() == 5
    export_onnx_module(serving_rest, rest)
    faces = real_faces["pixels"][:200]
    graph = bundle.load_onnx_file(whole).predict_proba(faces)
    alone = bundle.load_onnx_file(first).predict_proba(faces)
    exit_at = float(np.median(alone.max(axis=1)))
    cascade = bundle.load_onnx_file(whole, first_pass=(first, exit_at, 1.0),
                                    rest=(rest, 5, graph_temperature / own_temperature)).predict_proba(faces)
    sure = alone.max(axis=1) >= exit_at
    assert 0 < sure.sum() < len(faces)
    np.testing.assert_allclose(cascade[sure], alone[sure], atol=1e-6)
    np.testing.assert_allclose(cascade[~sure], graph[~sure], atol=1e-5)  # the whole graph, one pass fewer run
    # without the ratio the first pass's reading is not the graph's pass: the reading moves
    wrong = bundle.load_onnx_file(whole, first_pass=(first, exit_at, 1.0), rest=(rest, 5, 1.0)).predict_proba(faces)
    assert np.abs(wrong[~sure] - graph[~sure]).max() > 1e-3


def test_the_answer_temperature_is_fitted_on_the_faces_the_first_pass_answers() -> None:
    """A first pass 95% sure of faces it reads right 70% of the time is tempered until its answers
    read about 70% sure; faces it does not answer (here all wrong) do not move it."""
    labels = np.zeros(200, dtype=np.int64)
    labels[140:] = 1  # the first pass says expression 0 for every face: right on 140 of 200
    sure = np.full((200, 7), 0.05 / 6)
    sure[:, 0] = 0.95
    unsure = np.full((100, 7), 0.6 / 6)
    unsure[:, 0] = 0.4  # below the exit: wrong on all, and would pull the temperature elsewhere
    temperature = fit_answer_temperature(np.vstack([sure, unsure]), np.concatenate([labels, np.full(100, 3)]), 0.5)
    assert temperature > 1.5
    assert rescaled(sure, temperature)[:, 0].mean() == pytest.approx(0.7, abs=0.01)
    assert fit_answer_temperature(unsure, np.full(100, 3), 0.5) == 1.0  # it answers nothing


def test_the_exit_probability_is_the_lowest_that_reads_as_well_as_the_graph() -> None:
    labels = np.array([0, 1, 2, 3])
    graph = np.eye(7)[[0, 1, 2, 4]] * 0.9 + 0.1 / 7  # right on three of four
    first = np.full((4, 7), 0.05)
    first[0, 0], first[1, 5], first[2, 2], first[3, 3] = 0.9, 0.6, 0.7, 0.55  # wrong on face 1 only
    judged = Judged([np.zeros((4, 48, 48), np.uint8)], [labels], [graph])
    # at 0.5 every face exits: face 1 wrongly, but face 3 rightly where the graph is wrong: 3 right, as the graph
    assert exit_choice([first], judged, (0.5, 0.55, 0.65, 0.95), 0.0) == (0.5, 1.0)
    first[3, 3] = 0.3  # now face 3 stays with the graph, which reads it wrongly; face 1 exits wrongly below 0.65
    assert exit_choice([first], judged, (0.5, 0.55, 0.65, 0.95), 0.0) == (0.65, 0.5)
    # every judged set must hold: tune photos on which the first pass is wrong when sure
    photos = Judged(judged.faces + [np.zeros((2, 48, 48), np.uint8)], [labels, np.array([6, 6])],
                    [graph, np.eye(7)[[6, 6]]])
    sure_and_wrong = np.eye(7)[[0, 0]] * 0.8 + 0.2 / 7
    assert exit_choice([first, sure_and_wrong], photos, (0.65, 0.85, 0.95), 0.0) == (0.85, 0.25)
    assert exit_choice([first, sure_and_wrong], photos, (0.65,), 0.0) is None
    assert exit_choice([first, sure_and_wrong], photos, (0.65,), 1.0) == (0.65, 0.5)  # any loss allowed
    assert exit_choice([np.full((4, 7), 1 / 7)], judged, (0.5,), 0.0) is None  # nothing would exit


def test_a_first_pass_that_costs_a_rare_expression_is_refused_though_accuracy_holds() -> None:
    labels = np.array([0, 0, 0, 1])
    graph = np.eye(7)[[0, 0, 1, 1]]  # 3 of 4 right, and the one face of expression 1 found
    first = np.full((4, 7), 0.1)
    first[:, 0] = [0.3, 0.3, 0.9, 0.9]  # sure of faces 2 and 3, as expression 0: still 3 of 4 right
    judged = Judged([np.zeros((4, 48, 48), np.uint8)], [labels], [graph])
    assert exit_choice([first], judged, (0.5,), 0.0) is None  # expression 1 is never read: macro-F1 falls
    assert exit_choice([first], judged, (0.5,), 1.0) == (0.5, 0.5)


def test_a_first_pass_surer_than_it_is_right_is_refused() -> None:
    labels = np.tile([0, 1], 5)
    graph = np.full((10, 7), 0.5 / 6)
    graph[:, 0] = 0.5  # reads every face as expression 0 half sure: right half the time, well calibrated
    overconfident = np.full((10, 7), 0.01 / 6)
    overconfident[:, 0] = 0.99  # the same answers, 99% sure
    judged = Judged([np.zeros((10, 48, 48), np.uint8)], [labels], [graph])
    assert exit_choice([overconfident], judged, (0.9,), 0.0, max_ece_increase=0.005) is None
    assert exit_choice([overconfident], judged, (0.9,), 0.0, max_ece_increase=0.5) == (0.9, 1.0)


REST = {"file": FILE_NAME, "exit_probability": 0.6, "rest_file": REST_FILE_NAME, "rest_passes": 7,
        "temperature": 0.9, "graph_temperature": 0.8}


@pytest.mark.parametrize("entry, message", [
    ({"file": "other.onnx", "exit_probability": 0.6}, "its file must be first-pass.onnx"),
    ({"file": FILE_NAME, "exit_probability": 0.0}, "exit probability must be in (0, 1]"),
    ({"file": FILE_NAME, "exit_probability": "high"}, "could not convert"),
    ({"file": FILE_NAME}, "exit_probability"),
    ({"file": FILE_NAME, "exit_probability": 0.6, "answer_temperature": 0}, "answer temperature must be in [0.05, 20]"),
    ({"file": FILE_NAME, "exit_probability": 0.6, "answer_temperature": float("nan")}, "answer temperature"),
    ({**REST, "rest_file": "model.onnx"}, "its rest_file must be first-pass-rest.onnx"),
    ({**REST, "rest_passes": 0}, "must average 1 to 64 passes"),
    ({key: value for key, value in REST.items() if key != "graph_temperature"}, "graph_temperature"),
    ({**REST, "temperature": 0}, "division by zero"),
])
def test_a_broken_first_pass_entry_is_named(entry, message) -> None:
    with pytest.raises(BundleIntegrityError, match="first_pass is not valid") as caught:
        read_first_pass({"first_pass": entry})
    assert message in str(caught.value)
    assert read_first_pass({}) is None
    # a bundle from before answer temperatures reads its first pass's answers as they are
    assert read_first_pass({"first_pass": {"file": FILE_NAME, "exit_probability": 0.6}}) == FirstPassEntry(0.6, 1.0)
    # the graph's rest: its passes, and the first pass's reading re-tempered to the graph's temperature
    assert read_first_pass({"first_pass": REST}) == FirstPassEntry(0.6, 1.0, 7, pytest.approx(0.8 / 0.9))


@pytest.mark.slow
def test_a_run_builds_a_first_pass_the_bundle_serves_through(s3, real_faces, tmp_path) -> None:
    for name in (REFINED, MODELS):
        s3.create_bucket(Bucket=name)
    stores = s3
    upload_refined(stores, real_faces, tmp_path)
    (tmp_path / "pipeline.yaml").write_text(TINY)
    settings = load_pipeline_settings(tmp_path / "pipeline.yaml")
    settings = replace(settings, first_pass=replace(settings.first_pass, enabled=True, max_accuracy_loss=0.05,
                                                    max_ece_increase=0.05, exit_candidates=(0.2, 0.25, 0.3, 0.4)))
    run_id = pipeline_main.run(settings, stores)["run_id"]
    assert {f"models/{run_id}/{FILE_NAME}", f"models/{run_id}/{REST_FILE_NAME}"} <= set(model_keys(stores))
    loaded = bundle.load_bundle(f"s3://{MODELS}", stores)
    entry = loaded.manifest.section("first_pass")
    assert loaded.first_pass is not None and loaded.first_pass.exit_probability == entry["exit_probability"]
    assert loaded.first_pass.answer_temperature == entry["answer_temperature"] > 0
    assert entry["file"] == FILE_NAME and 0 < entry["exits"] <= 1
    # one network reading each of its views: the rest is every view but the face as it is
    views = (2 if settings.model.flip_tta else 1) * (2 if settings.model.zoom_tta > 1 else 1)
    assert entry["rest_file"] == REST_FILE_NAME and entry["rest_passes"] == views - 1 >= 1
    assert loaded.first_pass.rest.retemper == pytest.approx(entry["graph_temperature"] / entry["temperature"])
    assert entry["graph_temperature"] == pytest.approx(loaded.manifest.section("calibration")["temperature"], abs=1e-3)
    assert entry["accuracy"] >= entry["graph_accuracy"] - 0.05
    assert "first_pass" not in loaded.manifest.section("training")
    card = stores.get_object(Bucket=MODELS, Key=f"models/{run_id}/model_card.md")["Body"].read().decode()
    assert "- First pass: network 1 of 1 reads each face alone first" in card
    assert f"at least {entry['exit_probability']:g} is answered by it" in card
    faces = real_faces["pixels"]
    graph_only = replace(loaded, first_pass=None).predict_proba(faces)
    served = loaded.predict_proba(faces)
    sure = loaded.answered_by_first_pass(faces)
    assert not replace(loaded, first_pass=None).answered_by_first_pass(faces).any()
    assert sure.any()  # (which faces take which path: test_sure_faces_take_the_first_pass_...)
    np.testing.assert_allclose(served[~sure], graph_only[~sure], atol=1e-5)  # through the rest, as the graph
    np.testing.assert_allclose(served[sure], rescaled(run_graph(loaded.first_pass.session, graph_input(faces[sure])),
                                                      entry["answer_temperature"]), atol=1e-6)
    # a bundle whose first pass or rest was removed is refused, not served as the graph alone
    manifest = json.loads(stores.get_object(Bucket=MODELS, Key=f"models/{run_id}/manifest.json")["Body"].read())
    for name in (REST_FILE_NAME, FILE_NAME):
        del manifest["files"][name]
        stores.put_object(Bucket=MODELS, Key=f"models/{run_id}/manifest.json", Body=json.dumps(manifest).encode())
        with pytest.raises(BundleIntegrityError, match=f"lists no {name}"):
            bundle.load_bundle(f"s3://{MODELS}/models/{run_id}", stores)


def test_serving_leaves_unread_the_whole_graph_a_first_pass_with_a_rest_never_reads(tmp_path) -> None:
    # Loading it took about half of a bundle's loading (and its memory) at every start of the page
    # and of `facemood predict`; a promotion still checks it at once.
    shipped = bundle.read_latest(str(REPO_ROOT))
    if shipped is None:
        pytest.skip("no shipped model under models/: train one with `make model && make model-photos` (docs/model.md)")
    run_id = shipped["run_id"]
    folder = tmp_path / "models" / run_id
    shutil.copytree(REPO_ROOT / shipped["bundle"], folder)
    loaded = bundle.load_bundle(str(folder))
    if loaded.first_pass is None or loaded.first_pass.rest is None:
        pytest.skip("the shipped bundle has no first pass with a graph rest")
    faces = bundle.probe_faces()
    served = loaded.predict_proba(faces)
    assert isinstance(loaded.session, bundle.DeferredSession) and not loaded.session.loaded
    # asked for, the whole graph loads; where the first pass is unsure, the rest reads as it does
    sure = loaded.answered_by_first_pass(faces)
    whole = run_graph(loaded.session, graph_input(faces))
    assert loaded.session.loaded and (~sure).any()
    np.testing.assert_allclose(served[~sure], whole[~sure], atol=0.01)
    assert bundle.open_bundle(bundle.BundleRef(str(folder), None), every_graph=True).session.get_inputs()

    # a whole graph onnxruntime cannot read, its hash rewritten to match: served from the first pass
    # and the rest as before, named when something asks for it, and never promoted
    broken = b"not an ONNX graph"
    (folder / bundle.MODEL_NAME).write_bytes(broken)
    manifest = json.loads((folder / bundle.MANIFEST_NAME).read_text())
    manifest["files"][bundle.MODEL_NAME] = {"bytes": len(broken), "sha256": bundle.sha256_bytes(broken)}
    (folder / bundle.MANIFEST_NAME).write_text(json.dumps(manifest))
    still = bundle.load_bundle(str(folder))
    np.testing.assert_array_equal(still.predict_proba(faces), served)
    with pytest.raises(BundleIntegrityError, match="model.onnx cannot be loaded by onnxruntime"):
        run_graph(still.session, graph_input(faces))
    with pytest.raises(BundleIntegrityError, match="model.onnx cannot be loaded by onnxruntime"):
        registry.promote(str(tmp_path), run_id, "a test")
    assert bundle.read_latest(str(tmp_path)) is None
