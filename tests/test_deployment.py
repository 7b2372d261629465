"""Replaying the augmentation events that kept failing: the failure queue on moto's server."""
# pytest fixtures are parameters named like the fixture functions
# pylint: disable=redefined-outer-name

from __future__ import annotations

import json

import boto3
import pytest
from botocore.stub import Stubber

from facemood.deployment import replay_failed_events, require_outputs
from facemood.errors import DeploymentError
from tests.conftest import load_event


@pytest.fixture
def queue(s3, s3_server):  # pylint: disable=unused-argument  # s3: this test's environment points at the server
    """The failure queue, on the moto server."""
    sqs = boto3.session.Session().client("sqs", endpoint_url=s3_server.endpoint, region_name="us-east-1")
    return sqs, sqs.create_queue(QueueName="facemood-augment-failures")["QueueUrl"]


def test_failed_events_are_sent_to_the_function_again_and_leave_the_queue(queue):
    sqs, url = queue
    records = [load_event("augment_failure.json", bucket="facemood-raw", key=f"uploads/{name}.csv", etag="e")
               for name in ("a", "b")]
    for record in records:
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps(record))
    sqs.send_message(QueueUrl=url, MessageBody="not a failure record")
    # moto runs no function code, so the Lambda API boundary is checked with botocore's Stubber
    lambda_client = boto3.client("lambda", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(lambda_client) as stub:
        for record in records:
            stub.add_response("invoke", {"StatusCode": 202}, {
                "FunctionName": "facemood-augment", "InvocationType": "Event",
                "Payload": json.dumps(record["requestPayload"]).encode()})
        result = replay_failed_events(sqs, lambda_client, url, "facemood-augment")
        stub.assert_no_pending_responses()
    assert result == {"replayed": 2, "keys": ["uploads/a.csv", "uploads/b.csv"], "left_in_queue": 1}
    left = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesNotVisible",
                                                                   "ApproximateNumberOfMessages"])["Attributes"]
    assert sum(int(v) for v in left.values()) == 1  # only the unreadable message stays


def test_a_failing_replay_keeps_the_event_and_says_so(queue):
    sqs, url = queue
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(
        load_event("augment_failure.json", bucket="facemood-raw", key="uploads/a.csv", etag="e")))
    lambda_client = boto3.client("lambda", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(lambda_client) as stub:
        stub.add_client_error("invoke", "ResourceNotFoundException", "Function not found")
        with pytest.raises(DeploymentError, match="replaying failed events stopped after 0"):
            replay_failed_events(sqs, lambda_client, url, "facemood-augment")


def test_missing_outputs_are_named():
    with pytest.raises(DeploymentError, match="lacks the output.s. AugmentFunctionName: was it deployed"):
        require_outputs({"AugmentFailureQueueUrl": "u"}, "AugmentFailureQueueUrl", "AugmentFunctionName")
