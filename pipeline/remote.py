"""``facemood train --remote``: start the training task on ECS Fargate with the stack's
network settings (no torch needed on the caller's machine)."""

from __future__ import annotations

from typing import Any

from facemood.aws import aws_errors, aws_reason
from facemood.deployment import require_outputs
from facemood.errors import DeploymentError

REQUIRED_OUTPUTS = ("ClusterName", "TrainTaskDefinitionArn", "TaskSubnetIds", "TasksSecurityGroupId")


def run_training_task(ecs: Any, outputs: dict[str, str], data_uri: str | None = None) -> dict[str, Any]:
    """Start one Fargate training task; returns its ARN and where to follow its logs."""
    require_outputs(outputs, *REQUIRED_OUTPUTS)
    command = ["--config", "config/pipeline.yaml"] + (["--data", data_uri] if data_uri else [])
    try:
        reply = _run_task(ecs, outputs, command)
    except aws_errors() as exc:
        raise DeploymentError(f"ECS could not start the training task: {aws_reason(exc)}") from exc
    if reply.get("failures"):
        raise DeploymentError(f"ECS could not start the task: {reply['failures'][0].get('reason', 'unknown')}")
    task = reply["tasks"][0]["taskArn"]
    return {"task": task, "cluster": outputs["ClusterName"],
            "logs": f"aws logs tail /ecs/{outputs['ClusterName']}-train --follow"}


def _run_task(ecs: Any, outputs: dict[str, str], command: list[str]) -> dict[str, Any]:
    return ecs.run_task(
        cluster=outputs["ClusterName"], launchType="FARGATE", taskDefinition=outputs["TrainTaskDefinitionArn"],
        count=1,
        networkConfiguration={"awsvpcConfiguration": {
            "subnets": outputs["TaskSubnetIds"].split(","), "securityGroups": [outputs["TasksSecurityGroupId"]],
            "assignPublicIp": "ENABLED"}},
        overrides={"containerOverrides": [{"name": "train", "command": command}]},
    )
