"""``facemood train --remote``: start the training task on ECS Fargate with the stack's
network settings (no torch needed on the caller's machine)."""

from __future__ import annotations

from typing import Any

from facemood.errors import DeploymentError

REQUIRED_OUTPUTS = ("ClusterName", "TrainTaskDefinitionArn", "TaskSubnetIds", "TasksSecurityGroupId")


def stack_outputs(cloudformation: Any, stack: str) -> dict[str, str]:
    """The outputs of a deployed stack, by key."""
    from botocore.exceptions import ClientError  # pylint: disable=import-outside-toplevel

    try:
        found = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]
    except ClientError as exc:
        raise DeploymentError(f"stack {stack!r} not found: deploy it with scripts/deploy.sh") from exc
    return {o["OutputKey"]: o["OutputValue"] for o in found.get("Outputs", [])}


def run_training_task(ecs: Any, outputs: dict[str, str], data_uri: str | None = None) -> dict[str, Any]:
    """Start one Fargate training task; returns its ARN and where to follow its logs."""
    missing = [key for key in REQUIRED_OUTPUTS if key not in outputs]
    if missing:
        raise DeploymentError(f"the stack lacks the output(s) {', '.join(missing)}: was it deployed with "
                            "ImagesReady=true?")
    command = ["--config", "config/pipeline.yaml"] + (["--data", data_uri] if data_uri else [])
    reply = ecs.run_task(
        cluster=outputs["ClusterName"], launchType="FARGATE", taskDefinition=outputs["TrainTaskDefinitionArn"],
        count=1,
        networkConfiguration={"awsvpcConfiguration": {
            "subnets": outputs["TaskSubnetIds"].split(","), "securityGroups": [outputs["TasksSecurityGroupId"]],
            "assignPublicIp": "ENABLED"}},
        overrides={"containerOverrides": [{"name": "train", "command": command}]},
    )
    if reply.get("failures"):
        raise DeploymentError(f"ECS could not start the task: {reply['failures'][0].get('reason', 'unknown')}")
    task = reply["tasks"][0]["taskArn"]
    return {"task": task, "cluster": outputs["ClusterName"],
            "logs": f"aws logs tail /ecs/{outputs['ClusterName']}-train --follow"}
