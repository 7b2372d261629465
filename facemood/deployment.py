"""The deployed stack, seen from an operator's machine: its outputs, and replaying the
augmentation events that kept failing (AWS clients are passed in)."""

from __future__ import annotations

import json
import logging
from typing import Any

from facemood.aws import aws_errors, aws_reason
from facemood.errors import DeploymentError

log = logging.getLogger(__name__)


def stack_outputs(cloudformation: Any, stack: str) -> dict[str, str]:
    """The outputs of a deployed stack, by key."""
    try:
        found = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]
    except aws_errors() as exc:
        if "does not exist" in str(exc):
            raise DeploymentError(f"stack {stack!r} not found: deploy it with scripts/deploy.sh") from exc
        raise DeploymentError(f"cannot read the stack {stack!r}: {aws_reason(exc)}") from exc
    return {o["OutputKey"]: o["OutputValue"] for o in found.get("Outputs", [])}


def require_outputs(outputs: dict[str, str], *keys: str) -> None:
    """Raise DeploymentError naming the outputs a command needs that the stack lacks."""
    missing = [key for key in keys if key not in outputs]
    if missing:
        raise DeploymentError(f"the stack lacks the output(s) {', '.join(missing)}: was it deployed with "
                              "ImagesReady=true?")


def replay_failed_events(sqs: Any, lambda_client: Any, queue_url: str, function_name: str,
                         limit: int = 1000) -> dict[str, Any]:
    """Send every event in the augmentation's failure queue to the function again, then delete it.

    Each message is Lambda's on-failure record; its ``requestPayload`` is the original S3
    event, invoked again asynchronously (so a new failure lands in the queue again). The
    handler is idempotent, so a replay never duplicates output. A message that is not such
    a record is left in the queue and counted.
    """
    replayed: list[str] = []
    left = 0
    try:
        while len(replayed) + left < limit:
            messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                           VisibilityTimeout=120).get("Messages", [])
            if not messages:
                break
            for message in messages:
                payload = _request_payload(message.get("Body", ""))
                if payload is None:
                    left += 1
                    log.warning("not an on-failure record; left in the queue",
                                extra={"message_id": message["MessageId"]})
                    continue
                lambda_client.invoke(FunctionName=function_name, InvocationType="Event",
                                     Payload=json.dumps(payload).encode())
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
                replayed += [r.get("s3", {}).get("object", {}).get("key", "?") for r in payload.get("Records", [])]
    except aws_errors() as exc:
        raise DeploymentError(f"replaying failed events stopped after {len(replayed)}: {aws_reason(exc)}") from exc
    return {"replayed": len(replayed), "keys": replayed, "left_in_queue": left}


def _request_payload(body: str) -> dict[str, Any] | None:
    """The original event of a Lambda on-failure record, or None."""
    try:
        record = json.loads(body)
    except json.JSONDecodeError:
        return None
    payload = record.get("requestPayload") if isinstance(record, dict) else None
    return payload if isinstance(payload, dict) else None
