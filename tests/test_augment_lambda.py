"""The augmentation Lambda end to end through the moto S3 server."""
# pytest fixtures are parameters named like the fixture functions
# pylint: disable=redefined-outer-name

from __future__ import annotations

import gzip
import io
import json
from dataclasses import replace

import numpy as np
import pytest

from facemood import augment, dataset
from facemood.config import Buckets
from facemood.errors import StorageError
from lambdas import augment as augment_lambda
from tests.conftest import csv_text, load_event

RAW, REFINED = "facemood-raw", "facemood-refined"
RNG = np.random.default_rng(5)
PIXELS = RNG.integers(0, 256, size=(8, 48, 48), dtype=np.uint8)
LABELS = np.array([0, 1, 2, 3, 4, 5, 6, 3])
USAGE = ["Training"] * 5 + ["PublicTest", "PrivateTest", "Training"]
SETTINGS = replace(augment.load_augment_settings(), buckets=Buckets(RAW, REFINED, "facemood-models"))


@pytest.fixture
def buckets(s3):
    """The raw and refined buckets on the moto server."""
    for name in (RAW, REFINED):
        s3.create_bucket(Bucket=name)
    return s3


def upload(s3, key: str, body: bytes) -> str:
    """Put an object in the raw bucket; return its ETag."""
    s3.put_object(Bucket=RAW, Key=key, Body=body)
    return s3.head_object(Bucket=RAW, Key=key)["ETag"].strip('"')


def event_for(key_in_event: str, etag: str = "x") -> dict:
    """A genuine S3 put event for a key as S3 encodes it."""
    return load_event("s3_put.json", bucket=RAW, key=key_in_event, etag=etag)


def keys(s3, bucket: str) -> list[str]:
    """Every key in a bucket."""
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []))


def read_report(s3, key: str) -> dict:
    """A report from the refined bucket."""
    return json.loads(s3.get_object(Bucket=REFINED, Key=key)["Body"].read())


def test_event_in_refined_object_and_report_out(buckets):
    s3 = buckets
    etag = upload(s3, "uploads/fer.csv", csv_text(LABELS, PIXELS, USAGE).encode())
    result = augment_lambda.handler(event_for("uploads/fer.csv", etag), None, client=s3, settings=SETTINGS)
    data_key, report_key = augment.output_keys("uploads/fer.csv", etag, "refined/")
    assert keys(s3, REFINED) == sorted([data_key, report_key])
    assert result["results"][0]["status"] == "complete"
    body = s3.get_object(Bucket=REFINED, Key=data_key)["Body"].read()
    faces, rejections = dataset.read_faceset(io.BytesIO(body))
    assert not rejections
    training = 6
    assert len(faces) == 8 + 3 * training
    # evaluation rows pass through unchanged and are never augmented
    for usage in ("PublicTest", "PrivateTest"):
        picked = faces.usage == usage
        assert picked.sum() == 1
        np.testing.assert_array_equal(faces.pixels[picked][0], PIXELS[USAGE.index(usage)])
    # every copy names its source row (line 2 is the first data row)
    assert sorted(set(faces.source.tolist())) == list(range(2, 10))
    header = gzip.decompress(body).split(b"\n", 1)[0]
    assert header == b"emotion,pixels,Usage,augmentation,source"
    report = read_report(s3, report_key)
    assert report["status"] == "complete" and report["input"]["etag"] == etag
    assert report["rows_valid"] == 8 and report["rows_written"] == 26
    assert report["by_split"]["Training"]["angry"] == 1 and report["by_split"]["PublicTest"]["surprise"] == 1
    assert report["written_by_augmentation"] == {"original": 8, "flip+affine+color": 18}
    assert keys(s3, RAW) == ["uploads/fer.csv"]  # the raw bucket is never written


def test_retried_event_rewrites_the_same_keys(buckets):
    s3 = buckets
    etag = upload(s3, "fer.csv", csv_text(LABELS, PIXELS, USAGE).encode())
    augment_lambda.handler(event_for("fer.csv", etag), None, client=s3, settings=SETTINGS)
    first = keys(s3, REFINED)
    data_key = augment.output_keys("fer.csv", etag, "refined/")[0]
    body = s3.get_object(Bucket=REFINED, Key=data_key)["Body"].read()
    augment_lambda.handler(event_for("fer.csv", etag), None, client=s3, settings=SETTINGS)
    assert keys(s3, REFINED) == first and len(first) == 2
    assert s3.get_object(Bucket=REFINED, Key=data_key)["Body"].read() == body


def test_reupload_with_new_content_gets_new_keys(buckets):
    s3 = buckets
    etag1 = upload(s3, "fer.csv", csv_text(LABELS, PIXELS, USAGE).encode())
    augment_lambda.handler(event_for("fer.csv", etag1), None, client=s3, settings=SETTINGS)
    etag2 = upload(s3, "fer.csv", csv_text(LABELS[:4], PIXELS[:4], USAGE[:4]).encode())
    augment_lambda.handler(event_for("fer.csv", etag2), None, client=s3, settings=SETTINGS)
    assert etag1 != etag2 and len(keys(s3, REFINED)) == 4


def test_url_encoded_key_is_unquoted(buckets):
    s3 = buckets
    etag = upload(s3, "my data(1).csv", csv_text(LABELS, PIXELS, USAGE).encode())
    result = augment_lambda.handler(event_for("my+data%281%29.csv", etag), None, client=s3, settings=SETTINGS)
    assert result["results"][0]["key"] == "my data(1).csv"
    assert augment.output_keys("my data(1).csv", etag, "refined/")[0] in keys(s3, REFINED)


def test_non_csv_key_is_skipped_with_a_reason(buckets, caplog):
    s3 = buckets
    upload(s3, "photo.png", b"\x89PNG....")
    with caplog.at_level("INFO"):
        result = augment_lambda.handler(event_for("photo.png"), None, client=s3, settings=SETTINGS)
    assert result["results"] == [{"key": "photo.png", "status": "skipped", "reason": "not a .csv or .csv.gz key"}]
    assert keys(s3, REFINED) == []
    assert "skipped: not a .csv or .csv.gz key" in caplog.text


def test_invalid_file_gets_a_report_and_no_data(buckets):
    s3 = buckets
    etag = upload(s3, "oops.csv", b"\x89PNG\r\n\x1a\n" + bytes(64))
    result = augment_lambda.handler(event_for("oops.csv", etag), None, client=s3, settings=SETTINGS)
    data_key, report_key = augment.output_keys("oops.csv", etag, "refined/")
    assert keys(s3, REFINED) == [report_key]
    report = read_report(s3, report_key)
    assert report["status"] == "invalid_file" and report["error"] == "the file is a PNG image, not a FER2013 CSV"
    assert result["results"][0]["status"] == "invalid_file" and data_key not in keys(s3, REFINED)


def test_file_with_no_valid_row_gets_a_report_saying_why(buckets):
    s3 = buckets
    text = "emotion,pixels\n9," + " ".join(["1"] * 2304) + "\n3,1 2 3\n"
    etag = upload(s3, "bad.csv", text.encode())
    augment_lambda.handler(event_for("bad.csv", etag), None, client=s3, settings=SETTINGS)
    report_key = augment.output_keys("bad.csv", etag, "refined/")[1]
    assert keys(s3, REFINED) == [report_key]
    report = read_report(s3, report_key)
    assert report["status"] == "no_valid_rows"
    assert report["error"] == "no valid rows: all 2 data rows were rejected"
    assert report["rejected"] == [{"line": 2, "reason": "emotion 9 is outside 0..6"},
                                  {"line": 3, "reason": "pixels has 3 values, expected 2304 (48x48)"}]


def test_file_with_some_bad_rows_keeps_the_good_ones_and_lists_the_bad(buckets):
    s3 = buckets
    lines = csv_text(LABELS, PIXELS, USAGE).splitlines()
    lines.insert(3, "7," + " ".join(["1"] * 2304) + ",Training")  # becomes line 4
    lines.append("2,1 2,Training")  # line 11
    etag = upload(s3, "gz/mixed.csv.gz", gzip.compress(("\n".join(lines) + "\n").encode()))
    augment_lambda.handler(event_for("gz/mixed.csv.gz", etag), None, client=s3, settings=SETTINGS)
    data_key, report_key = augment.output_keys("gz/mixed.csv.gz", etag, "refined/")
    report = read_report(s3, report_key)
    assert report["rows_read"] == 10 and report["rows_valid"] == 8 and report["rejected_count"] == 2
    assert [r["line"] for r in report["rejected"]] == [4, 11]
    faces, _ = dataset.read_faceset(io.BytesIO(s3.get_object(Bucket=REFINED, Key=data_key)["Body"].read()))
    assert len(faces) == 26


def test_missing_object_fails_the_invocation_so_lambda_retries(buckets):
    with pytest.raises(StorageError, match="does not exist"):
        augment_lambda.handler(event_for("gone.csv"), None, client=buckets, settings=SETTINGS)
    assert keys(buckets, REFINED) == []


def test_every_record_of_an_event_is_processed(buckets):
    s3 = buckets
    event = {"Records": []}
    for name in ("a.csv", "b.csv"):
        etag = upload(s3, name, csv_text(LABELS, PIXELS, USAGE).encode())
        event["Records"] += event_for(name, etag)["Records"]
    result = augment_lambda.handler(event, None, client=s3, settings=SETTINGS)
    assert [r["status"] for r in result["results"]] == ["complete", "complete"]
    assert len(keys(s3, REFINED)) == 4


def test_failed_step_leaves_no_partial_object(buckets, monkeypatch):
    s3 = buckets
    etag = upload(s3, "fer.csv", csv_text(LABELS, PIXELS, USAGE).encode())

    def explode(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(augment.dataset, "format_rows", explode)
    with pytest.raises(RuntimeError):
        augment_lambda.handler(event_for("fer.csv", etag), None, client=s3, settings=SETTINGS)
    assert keys(s3, REFINED) == []
    assert s3.list_multipart_uploads(Bucket=REFINED).get("Uploads", []) == []


def test_refusing_to_write_into_the_triggering_bucket(buckets):
    upload(buckets, "fer.csv", b"emotion,pixels\n")
    same = replace(SETTINGS, buckets=Buckets(RAW, RAW, "facemood-models"))
    with pytest.raises(StorageError, match="refusing to write into the bucket that triggered"):
        augment.augment_s3_object(buckets, same, RAW, "fer.csv", None)
    assert keys(buckets, RAW) == ["fer.csv"]  # nothing was written next to the upload


def test_a_refined_file_uploaded_again_is_refused_not_multiplied(buckets):
    s3 = buckets
    etag = upload(s3, "fer.csv", csv_text(LABELS, PIXELS, USAGE).encode())
    augment_lambda.handler(event_for("fer.csv", etag), None, client=s3, settings=SETTINGS)
    refined = s3.get_object(Bucket=REFINED, Key=augment.output_keys("fer.csv", etag, "refined/")[0])["Body"].read()
    again = upload(s3, "again.csv.gz", refined)
    result = augment_lambda.handler(event_for("again.csv.gz", again), None, client=s3, settings=SETTINGS)
    data_key, report_key = augment.output_keys("again.csv.gz", again, "refined/")
    assert result["results"][0]["status"] == "invalid_file"
    report = read_report(s3, report_key)
    assert report["error"].startswith("the file is already refined (it has augmentation and source columns)")
    assert report["rows_written"] == 0 and data_key not in keys(s3, REFINED)


def test_storage_lost_mid_upload_leaves_nothing_and_a_rerun_completes_byte_identically(buckets, s3_server, tmp_path):
    from facemood.storage import s3_client
    from local_stack.s3_server import LOCAL_CREDENTIALS
    from tests.faults import CuttableProxy

    s3 = buckets
    rng = np.random.default_rng(9)
    text = csv_text(rng.integers(0, 7, 300), rng.integers(0, 256, (300, 48, 48), dtype=np.uint8), ["Training"] * 300)
    etag = upload(s3, "big.csv", text.encode())
    source = tmp_path / "big.csv"
    source.write_text(text)
    augment.augment_file(str(source), str(tmp_path / "expected.csv.gz"), SETTINGS)
    upstream = ("127.0.0.1", int(s3_server.endpoint.rsplit(":", 1)[1]))
    proxy = CuttableProxy(upstream, cut_after=64_000)  # the refined output's upload is cut after 64 KB
    with pytest.raises(StorageError):
        augment_lambda.handler(event_for("big.csv", etag), None, client=s3_client(proxy.endpoint, **LOCAL_CREDENTIALS),
                               settings=SETTINGS)
    assert proxy.is_cut.is_set()
    assert keys(s3, REFINED) == []  # neither data nor a report that would mark it processed
    again = CuttableProxy(upstream)  # the server is back
    result = augment_lambda.handler(event_for("big.csv", etag), None,
                                    client=s3_client(again.endpoint, **LOCAL_CREDENTIALS), settings=SETTINGS)
    assert result["results"][0]["status"] == "complete"
    data_key = augment.output_keys("big.csv", etag, "refined/")[0]
    assert s3.get_object(Bucket=REFINED, Key=data_key)["Body"].read() == (tmp_path / "expected.csv.gz").read_bytes()
    again.cut()


def test_each_file_writes_one_metrics_line(buckets, capsys):
    s3 = buckets
    body = csv_text(LABELS, PIXELS, USAGE) + "9,1 2 3,Training\n"  # one bad row: rejected, not lost
    etag = upload(s3, "fer.csv", body.encode())
    augment_lambda.handler(event_for("fer.csv", etag), None, client=s3, settings=SETTINGS)
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if '"_aws"' in line]
    assert len(lines) == 1
    line = lines[0]
    definition = line["_aws"]["CloudWatchMetrics"][0]
    assert definition["Namespace"] == "FaceMood" and definition["Dimensions"] == [["service"]]
    assert {m["Name"]: m["Unit"] for m in definition["Metrics"]} == {
        "RowsIn": "Count", "RowsRejected": "Count", "RowsWritten": "Count", "FilesFailed": "Count"}
    assert (line["RowsIn"], line["RowsRejected"], line["RowsWritten"], line["FilesFailed"]) == ([9.0], [1.0], [26.0],
                                                                                                [0.0])
    assert line["service"] == "augment"


def test_a_file_from_another_bucket_is_refused_and_logged(buckets, caplog):
    s3 = buckets
    s3.create_bucket(Bucket="other-bucket")
    s3.put_object(Bucket="other-bucket", Key="uploads/ok.csv", Body=csv_text(LABELS, PIXELS, USAGE).encode())
    event = load_event("s3_put.json", bucket="other-bucket", key="uploads/ok.csv", etag="x")
    with caplog.at_level("WARNING"):
        result = augment_lambda.handler(event, None, client=s3, settings=SETTINGS)
    assert result["results"] == [{"key": "uploads/ok.csv", "status": "refused",
                                  "reason": f"bucket 'other-bucket' is not the raw bucket '{RAW}'"}]
    assert keys(s3, REFINED) == []  # it was augmented into the refined bucket, to be trained on
    assert "is not the raw bucket" in caplog.text


@pytest.mark.parametrize(("event", "said"), [
    ({"Records": None}, "not an S3 event"),
    ("x", "not an S3 event"),
    (["x"], "not an S3 event"),
    ({"Records": []}, "no records"),
    ({"Records": ["x"]}, "record 1: not an S3 record"),
    ({"Records": [{"s3": {"bucket": {"name": RAW}, "object": {"key": 7}}}]}, "record 1: not an S3 record"),
])
def test_a_malformed_event_is_refused_in_words_and_not_retried(buckets, caplog, event, said):
    with caplog.at_level("WARNING"):
        result = augment_lambda.handler(event, None, client=buckets, settings=SETTINGS)  # returns: no retry
    assert result["results"][0]["status"] == "refused" and said in result["results"][0]["reason"]
    assert said in caplog.text and keys(buckets, REFINED) == []
