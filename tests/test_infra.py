"""Infrastructure as code, checked without an AWS account: SAM translation, cfn-lint,
hadolint, the translated stack created in moto's CloudFormation, and the properties moto
drops asserted on the template itself."""
# pytest fixtures are parameters named like the fixture functions
# pylint: disable=redefined-outer-name

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from facemood import journal
from facemood.augment import TRIGGER_SUFFIXES, is_csv_key

REPO = Path(__file__).resolve().parent.parent
TEMPLATE = REPO / "infra" / "template.yaml"
BIN = Path(sys.executable).parent
DOCKERFILES = sorted((REPO / "dockerfiles").glob("**/Dockerfile-*"))


@pytest.fixture(scope="module")
def translated() -> dict:
    """The template after the SAM transform (what CloudFormation deploys)."""
    from samtranslator.translator.transform import transform
    from samtranslator.yaml_helper import yaml_parse

    class NoManagedPolicies:
        """The template names no managed policy, so no IAM lookup is needed."""

        def load(self) -> dict:
            """No managed policies."""
            return {}

    with pytest.MonkeyPatch.context() as patch:  # the translator wants a region; only while it runs
        patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        return transform(yaml_parse(TEMPLATE.read_text()), {}, NoManagedPolicies())


def resources(template: dict, kind: str) -> dict:
    """The template's resources of one type, by logical id."""
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


@pytest.mark.integration
def test_cfn_lint_passes_on_the_template_and_its_translation(translated, tmp_path):
    out = tmp_path / "translated.json"
    out.write_text(json.dumps(translated))
    for path in (TEMPLATE, out):
        result = subprocess.run([str(BIN / "cfn-lint"), str(path)], capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint_passes(dockerfile):
    result = subprocess.run([str(BIN / "hadolint"), str(dockerfile)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_dockerfile_copies_paths_that_exist():
    for dockerfile in DOCKERFILES:
        for line in dockerfile.read_text().splitlines():
            if line.startswith("COPY "):
                for source in line.split()[1:-1]:
                    assert (REPO / source).exists(), f"{dockerfile.name}: {source} does not exist"


def test_every_handler_the_template_names_exists(translated):
    functions = resources(translated, "AWS::Lambda::Function")
    assert len(functions) == 2
    for name, function in functions.items():
        (handler,) = function["Properties"]["ImageConfig"]["Command"]
        module, attribute = handler.rsplit(".", 1)
        assert callable(getattr(importlib.import_module(module), attribute)), name


def test_the_raw_bucket_triggers_the_augment_lambda_on_csv_and_csv_gz(translated):
    notifications = translated["Resources"]["RawBucket"]["Properties"]["NotificationConfiguration"]
    suffixes = set()
    for entry in notifications["LambdaConfigurations"]:
        config = entry["Fn::If"][1]
        assert config["Function"] == {"Fn::GetAtt": ["AugmentFunction", "Arn"]}
        assert config["Event"] == "s3:ObjectCreated:*"
        suffixes |= {rule["Value"] for rule in config["Filter"]["S3Key"]["Rules"] if rule["Name"] == "suffix"}
    # S3's filters are case-sensitive: the template triggers on exactly the spellings the code names
    assert suffixes == set(TRIGGER_SUFFIXES) and {".csv", ".csv.gz", ".CSV", ".CSV.GZ"} <= suffixes
    assert all(is_csv_key(f"uploads/data{suffix}") for suffix in suffixes)


def test_buckets_are_private_encrypted_and_configured(translated):
    buckets = resources(translated, "AWS::S3::Bucket")
    assert set(buckets) == {"RawBucket", "RefinedBucket", "ModelBucket", "AccessLogBucket", "StorageAccessLogBucket"}
    for bucket in buckets.values():
        props = bucket["Properties"]
        assert all(props["PublicAccessBlockConfiguration"].values())
        assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert buckets["ModelBucket"]["Properties"]["VersioningConfiguration"]["Status"] == "Enabled"
    rules = buckets["RefinedBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    assert any(rule.get("ExpirationInDays") for rule in rules)


def test_lambda_sizes_come_from_parameters(translated):
    augment = translated["Resources"]["AugmentFunction"]["Properties"]
    assert augment["MemorySize"] == {"Ref": "AugmentMemoryMB"}
    assert augment["Timeout"] == {"Ref": "AugmentTimeoutSeconds"}
    assert augment["EphemeralStorage"] == {"Size": {"Ref": "AugmentEphemeralStorageMB"}}
    assert augment["PackageType"] == "Image"


def test_fargate_tasks_and_the_https_app_behind_the_load_balancer(translated):
    tasks = resources(translated, "AWS::ECS::TaskDefinition")
    for task in tasks.values():
        props = task["Properties"]
        assert props["RequiresCompatibilities"] == ["FARGATE"] and props["NetworkMode"] == "awsvpc"
    assert tasks["TrainTaskDefinition"]["Properties"]["Cpu"] == {"Ref": "TrainCpu"}
    assert tasks["TrainTaskDefinition"]["Properties"]["Memory"] == {"Ref": "TrainMemory"}
    target = translated["Resources"]["AppTargetGroup"]["Properties"]
    assert target["HealthCheckPath"] == "/_stcore/health"
    attributes = {a["Key"]: a["Value"] for a in target["TargetGroupAttributes"]}
    assert attributes["stickiness.enabled"] == "true" and attributes["stickiness.type"] == "lb_cookie"
    https = translated["Resources"]["HttpsListener"]["Properties"]
    assert https["Protocol"] == "HTTPS" and https["Certificates"] == [{"CertificateArn": {"Ref": "CertificateArn"}}]
    redirect = translated["Resources"]["HttpRedirectListener"]["Properties"]["DefaultActions"][0]
    assert redirect["Type"] == "redirect" and redirect["RedirectConfig"]["Protocol"] == "HTTPS"
    service = translated["Resources"]["AppService"]["Properties"]
    assert service["LaunchType"] == "FARGATE" and service["LoadBalancers"][0]["ContainerPort"] == 8501


def test_every_log_group_has_a_retention(translated):
    groups = resources(translated, "AWS::Logs::LogGroup")
    assert len(groups) == 4
    assert all(g["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"} for g in groups.values())


def _when_true(value):
    """A conditional value (``Fn::If``) as it is when its condition holds (sign-in on: the default)."""
    return value["Fn::If"][1] if isinstance(value, dict) and "Fn::If" in value else value


def _statements(role: dict) -> list[dict]:
    return [s for policy in role["Properties"].get("Policies", []) for s in
            _when_true(policy)["PolicyDocument"]["Statement"]]


def test_roles_have_least_privilege(translated):
    roles = resources(translated, "AWS::IAM::Role")
    for name, role in roles.items():
        for statement in _statements(role):
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            assert not any(a.endswith(":*") or a == "*" for a in actions), (name, actions)
            assert statement.get("Resource") != "*", name
    face_role = roles["FaceFunctionRole"]
    assert _statements(face_role) == []  # the face step touches no bucket
    augment = json.dumps(_statements(roles["AugmentFunctionRole"]))
    assert "raw-${AWS::AccountId}/*" in augment and "s3:PutObject" in augment
    assert '"s3:PutObject"' not in json.dumps([s for s in _statements(roles["AugmentFunctionRole"])
                                                if "raw" in json.dumps(s["Resource"])])
    app = json.dumps(_statements(roles["AppTaskRole"]))
    assert "lambda:InvokeFunction" in app and "s3:PutObject" not in app
    train = json.dumps(_statements(roles["TrainTaskRole"]))
    assert "RefinedBucket" in train and "ModelBucket" in train and "lambda" not in train


@pytest.mark.integration
@pytest.mark.usefixtures("s3")  # the moto server, and its dummy credentials in this test's environment
def test_the_stack_creates_in_moto_cloudformation(translated, s3_server):
    region = "us-east-1"
    session = {"endpoint_url": s3_server.endpoint, "region_name": region}
    ec2 = boto3.client("ec2", **session)
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.20.{i}.0/24",
                                 AvailabilityZone=f"{region}{zone}")["Subnet"]["SubnetId"]
               for i, zone in ((1, "a"), (2, "b"))]
    certificate = boto3.client("acm", **session).request_certificate(DomainName="facemood.example.edu")
    cloudformation = boto3.client("cloudformation", **session)
    parameters = {"ImagesReady": "true", "VpcId": vpc, "PublicSubnetIds": ",".join(subnets), "ImageTag": "test",
                  "CertificateArn": certificate["CertificateArn"]}
    cloudformation.create_stack(StackName="facemood", TemplateBody=json.dumps(translated),
                                Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
                                Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"])
    stack = cloudformation.describe_stacks(StackName="facemood")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    created = {r["LogicalResourceId"]: r for r in
               cloudformation.list_stack_resources(StackName="facemood")["StackResourceSummaries"]}
    for name in ("RawBucket", "RefinedBucket", "ModelBucket", "AugmentFunction", "FaceFunction", "Cluster",
                 "TrainTaskDefinition", "AppTaskDefinition", "AppService", "LoadBalancer", "AppTargetGroup",
                 "HttpsListener", "HttpRedirectListener", "LambdaRepository", "PipelineRepository", "AppRepository",
                 "AugmentFunctionRole", "FaceFunctionRole", "TrainTaskRole", "AppTaskRole", "AugmentFailureQueue",
                 "AlarmTopic", "TrainingFailedRule", "Dashboard", "AccessLogBucket", "JournalTable"):
        assert name in created, name
    dynamodb = boto3.client("dynamodb", **session)
    table = dynamodb.describe_table(TableName="facemood-journal")["Table"]
    # moto applies no SSE or point-in-time recovery: both are asserted on the template
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert {k["AttributeName"] for k in table["KeySchema"]} == {journal.PARTITION, journal.SORT}
    s3 = boto3.client("s3", **session)
    names = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert {"facemood-raw-123456789012", "facemood-refined-123456789012", "facemood-models-123456789012"} <= names
    functions = {f["FunctionName"] for f in boto3.client("lambda", **session).list_functions()["Functions"]}
    assert {"facemood-augment", "facemood-face"} <= functions
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    assert outputs["AppUrl"].startswith("https://")
    assert outputs["RunTrainingCommand"].startswith("aws ecs run-task --cluster")
    assert {"ClusterName", "TrainTaskDefinitionArn", "TaskSubnetIds", "TasksSecurityGroupId"} <= set(outputs)


def test_train_remote_starts_the_task_with_the_stacks_network_settings():
    """moto cannot run Fargate tasks, so the ECS API boundary is checked with botocore's Stubber."""
    from botocore.stub import Stubber

    from pipeline.remote import run_training_task

    outputs = {"ClusterName": "facemood", "TrainTaskDefinitionArn": "arn:aws:ecs:us-east-1:1:task-definition/t:1",
               "TaskSubnetIds": "subnet-a,subnet-b", "TasksSecurityGroupId": "sg-1"}
    ecs = boto3.client("ecs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(ecs) as stub:
        stub.add_response("run_task", {"tasks": [{"taskArn": "arn:aws:ecs:us-east-1:1:task/facemood/abc"}],
                                       "failures": []}, {
            "cluster": "facemood", "launchType": "FARGATE", "count": 1,
            "taskDefinition": outputs["TrainTaskDefinitionArn"],
            "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-a", "subnet-b"],
                                                             "securityGroups": ["sg-1"], "assignPublicIp": "ENABLED"}},
            "overrides": {"containerOverrides": [{"name": "train", "command": [
                "--config", "config/pipeline.yaml", "--data", "s3://refined/x.csv.gz"]}]}})
        started = run_training_task(ecs, outputs, "s3://refined/x.csv.gz")
    assert started["task"] == "arn:aws:ecs:us-east-1:1:task/facemood/abc"


def test_every_bucket_refuses_plain_http(translated):
    policies = {p["Properties"]["Bucket"]["Ref"]: p["Properties"]["PolicyDocument"]["Statement"]
                for p in resources(translated, "AWS::S3::BucketPolicy").values()}
    assert set(policies) == {"RawBucket", "RefinedBucket", "ModelBucket", "AccessLogBucket",
                             "StorageAccessLogBucket"}
    for bucket, statements in policies.items():
        deny = [s for s in statements if s["Effect"] == "Deny"]
        assert deny and deny[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}, bucket
        assert deny[0]["Action"] == "s3:*" and len(deny[0]["Resource"]) == 2, bucket


def test_old_versions_of_raw_uploads_expire(translated):
    rules = translated["Resources"]["RawBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    expiring = [r for r in rules if "NoncurrentVersionExpiration" in r]
    assert expiring and expiring[0]["NoncurrentVersionExpiration"]["NoncurrentDays"] == {
        "Ref": "RawNoncurrentVersionDays"}


def test_an_event_that_keeps_failing_goes_to_an_encrypted_queue(translated):
    queue = translated["Resources"]["AugmentFailureQueue"]["Properties"]
    assert queue["SqsManagedSseEnabled"] is True
    assert queue["MessageRetentionPeriod"] == {"Ref": "FailedEventRetentionSeconds"}
    configs = [r["Properties"] for r in resources(translated, "AWS::Lambda::EventInvokeConfig").values()]
    assert len(configs) == 1 and configs[0]["FunctionName"] == {"Ref": "AugmentFunction"}
    assert configs[0]["DestinationConfig"]["OnFailure"]["Destination"] == {
        "Fn::GetAtt": ["AugmentFailureQueue", "Arn"]}
    role = json.dumps(_statements(translated["Resources"]["AugmentFunctionRole"]))
    assert "sqs:SendMessage" in role


def test_the_app_scales_on_cpu_out_fast_and_in_slowly(translated):
    target = translated["Resources"]["AppScalableTarget"]["Properties"]
    assert target["MinCapacity"] == {"Ref": "AppMinTasks"} and target["MaxCapacity"] == {"Ref": "AppMaxTasks"}
    assert translated["Parameters"]["AppMinTasks"]["Default"] == 2
    policy = translated["Resources"]["AppCpuScaling"]["Properties"]
    tracking = policy["TargetTrackingScalingPolicyConfiguration"]
    assert policy["PolicyType"] == "TargetTrackingScaling"
    assert tracking["PredefinedMetricSpecification"]["PredefinedMetricType"] == "ECSServiceAverageCPUUtilization"
    assert tracking["ScaleInCooldown"] >= 600 > tracking["ScaleOutCooldown"]
    attributes = {a["Key"]: a["Value"] for a in
                  translated["Resources"]["AppTargetGroup"]["Properties"]["TargetGroupAttributes"]}
    assert attributes["deregistration_delay.timeout_seconds"] == "300"  # websockets get time to finish
    assert attributes["stickiness.enabled"] == "true"


def test_alarms_reach_the_topic_and_cover_what_can_fail(translated):
    alarms = resources(translated, "AWS::CloudWatch::Alarm")
    watched = {(a["Properties"]["Namespace"], a["Properties"]["MetricName"]) for a in alarms.values()}
    assert {("AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count"), ("AWS/ApplicationELB", "UnHealthyHostCount"),
            ("AWS/Lambda", "Errors"), ("AWS/Lambda", "Throttles"),
            ("AWS/SQS", "ApproximateNumberOfMessagesVisible")} <= watched
    assert all(a["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}] for a in alarms.values())
    assert translated["Resources"]["AlarmTopic"]["Properties"]["KmsMasterKeyId"] == "alias/aws/sns"
    assert translated["Resources"]["AlarmEmailSubscription"]["Condition"] == "EmailAlarms"
    rule = translated["Resources"]["TrainingFailedRule"]["Properties"]
    assert rule["EventPattern"]["detail"]["containers"] == {"name": ["train"], "exitCode": [{"anything-but": [0, 2]}]}
    assert rule["Targets"][0]["Arn"] == {"Ref": "AlarmTopic"}


def test_the_dashboard_is_valid_json_over_the_metrics_the_code_writes(translated):
    body, names = translated["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    text = body.replace("${Namespace}", names["Namespace"])
    for placeholder in ("${AWS::Region}", "${LoadBalancer.LoadBalancerFullName}", "${Cluster}",
                        "${AppService.Name}", "${FaceFunction}", "${AugmentFunction}"):
        text = text.replace(placeholder, "x")
    widgets = json.loads(text)["widgets"]
    shown = json.dumps(widgets)
    for metric in ("CheckIns", "NoFace", "UnclearReadings", "DistressShown", "FaceStepLatency", "ModelLatency",
                   "RowsWritten", "RowsRejected", "ValidationAccuracy", "Promoted"):
        assert metric in shown, metric
    assert names["Namespace"] == "FaceMood"  # the namespace every config file names
    for name in ("app.yaml", "augment.yaml", "pipeline.yaml"):
        assert "metrics_namespace: FaceMood" in (REPO / "config" / name).read_text(), name


def test_waf_limits_uploads_per_ip_and_body_size_and_keeps_photos_possible(translated):
    import re

    acl = translated["Resources"]["WebAcl"]["Properties"]
    rules = {rule["Name"]: rule for rule in acl["Rules"]}
    rate = rules["uploads-per-ip"]["Statement"]["RateBasedStatement"]
    assert rate["AggregateKeyType"] == "IP" and rate["Limit"] == {"Ref": "UploadRequestsPer5Minutes"}
    assert rate["ScopeDownStatement"]["ByteMatchStatement"]["SearchString"] == "/_stcore/upload_file"
    too_big = re.compile(rules["body-size"]["Statement"]["RegexMatchStatement"]["RegexString"])
    limit_mb = int(re.search(r"maxUploadSize = (\d+)", (REPO / "app" / ".streamlit" / "config.toml").read_text())[1])
    largest_photo = limit_mb * 1024 * 1024 + 100_000  # the app's limit plus a multipart envelope
    assert not too_big.match(str(largest_photo)) and not too_big.match("24999999")
    assert all(too_big.match(str(n)) for n in (25_000_000, 99_999_999, 123_456_789_012))
    common = rules["aws-common"]["Statement"]["ManagedRuleGroupStatement"]
    assert common["Name"] == "AWSManagedRulesCommonRuleSet"
    assert common["RuleActionOverrides"] == [{"Name": "SizeRestrictions_BODY", "ActionToUse": {"Count": {}}}]
    association = translated["Resources"]["WebAclAssociation"]["Properties"]
    assert association["ResourceArn"] == {"Ref": "LoadBalancer"}


def test_access_logs_go_to_an_encrypted_expiring_bucket(translated):
    attributes = {a["Key"]: a["Value"] for a in
                  translated["Resources"]["LoadBalancer"]["Properties"]["LoadBalancerAttributes"]}
    assert attributes["access_logs.s3.enabled"] == "true"
    assert attributes["access_logs.s3.bucket"] == {"Ref": "AccessLogBucket"}
    bucket = translated["Resources"]["AccessLogBucket"]["Properties"]
    assert bucket["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] == {"Ref": "AccessLogDays"}
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]


def test_who_touched_raw_data_or_the_served_model_is_logged(translated):
    """The raw and model buckets write server access logs (who put or read raw data, who moved
    latest.json) to a private, expiring bucket only S3's log service of this account may write to."""
    for bucket, prefix in (("RawBucket", "raw/"), ("ModelBucket", "models/")):
        logging = translated["Resources"][bucket]["Properties"]["LoggingConfiguration"]
        assert logging == {"DestinationBucketName": {"Ref": "StorageAccessLogBucket"}, "LogFilePrefix": prefix}
    logs = translated["Resources"]["StorageAccessLogBucket"]["Properties"]
    assert logs["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] == {"Ref": "StorageAccessLogDays"}
    assert all(logs["PublicAccessBlockConfiguration"].values())
    policy = translated["Resources"]["StorageAccessLogBucketPolicy"]["Properties"]["PolicyDocument"]
    [delivery] = [s for s in policy["Statement"] if s["Effect"] == "Allow"]
    assert delivery["Principal"] == {"Service": "logging.s3.amazonaws.com"} and delivery["Action"] == "s3:PutObject"
    assert delivery["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    assert len(delivery["Condition"]["ArnLike"]["aws:SourceArn"]) == 2


def test_every_checkov_skip_gives_its_reason():
    """checkov runs in make lint; a finding is skipped only with the reason it is acceptable."""
    from samtranslator.yaml_helper import yaml_parse

    skips = [(name, skip) for name, resource in yaml_parse(TEMPLATE.read_text())["Resources"].items()
             for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])]
    assert skips
    for name, skip in skips:
        assert skip["id"].startswith("CKV_") and len(skip.get("comment", "")) > 40, (name, skip)


def test_retraining_on_new_data_is_a_switch_that_starts_the_training_task(translated):
    assert translated["Parameters"]["RetrainOnNewData"]["Default"] == "false"
    rule = translated["Resources"]["RetrainRule"]
    assert rule["Condition"] == "Retrain"
    pattern = rule["Properties"]["EventPattern"]
    assert pattern["detail"]["object"]["key"] == [{"suffix": ".report.json"}]  # written after the data
    assert pattern["detail"]["bucket"]["name"] == [{"Ref": "RefinedBucket"}]
    target = rule["Properties"]["Targets"][0]
    assert target["EcsParameters"]["TaskDefinitionArn"] == {"Ref": "TrainTaskDefinition"}
    refined = translated["Resources"]["RefinedBucket"]["Properties"]
    assert refined["NotificationConfiguration"]["EventBridgeConfiguration"]["EventBridgeEnabled"] is True
    role = translated["Resources"]["RetrainRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    assert {s["Action"] for s in role} == {"ecs:RunTask", "iam:PassRole"}


def test_the_face_function_has_reserved_and_optional_provisioned_concurrency(translated):
    face = translated["Resources"]["FaceFunction"]["Properties"]
    assert face["ReservedConcurrentExecutions"] == {"Ref": "FaceReservedConcurrency"}
    assert translated["Parameters"]["FaceProvisionedConcurrency"]["Default"] == 0
    app = translated["Resources"]["AppTaskDefinition"]["Properties"]["ContainerDefinitions"][0]
    environment = {_when_true(e)["Name"]: _when_true(e)["Value"] for e in app["Environment"]}
    assert environment["FACEMOOD_FACE_FUNCTION"] == {"Fn::Sub": "${FaceFunction}:live"}  # the warm alias


def test_the_journal_table_is_encrypted_recoverable_and_expires_entries(translated):
    table = translated["Resources"]["JournalTable"]
    properties = table["Properties"]
    assert table["Condition"] == "SignIn" and table["DeletionPolicy"] == "Retain"
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["SSESpecification"] == {"SSEEnabled": True, "SSEType": "KMS",
                                              "KMSMasterKeyId": {"Ref": "StudentDataKey"}}
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert properties["TimeToLiveSpecification"] == {"AttributeName": journal.EXPIRES, "Enabled": True}
    assert {k["AttributeName"] for k in properties["KeySchema"]} == {journal.PARTITION, journal.SORT}
    assert translated["Resources"]["StudentDataKey"]["Properties"]["EnableKeyRotation"] is True


def test_sign_in_returns_only_to_the_page_over_https(translated):
    client = translated["Resources"]["UserPoolClient"]["Properties"]
    assert client["GenerateSecret"] is True and client["AllowedOAuthFlows"] == ["code"]
    assert "openid" in client["AllowedOAuthScopes"]
    for urls, path in ((client["CallbackURLs"], "/oauth2callback"), (client["LogoutURLs"], "/")):
        template, _ = urls[0]["Fn::Sub"]
        assert template == f"https://${{Host}}{path}", urls  # never http
    assert translated["Resources"]["UserPool"]["Properties"]["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"]
    saml, oidc = translated["Resources"]["CampusIdentityProvider"], translated["Resources"]["CampusOidcProvider"]
    assert saml["Condition"] == "FederateSaml" and saml["Properties"]["ProviderType"] == "SAML"
    assert oidc["Condition"] == "FederateOidc" and oidc["Properties"]["ProviderType"] == "OIDC"
    assert translated["Parameters"]["CampusOidcClientSecret"]["NoEcho"] is True
    assert client["SupportedIdentityProviders"] == {"Fn::If": ["FederateSaml", [{"Ref": "CampusIdentityProvider"}], {
        "Fn::If": ["FederateOidc", [{"Ref": "CampusOidcProvider"}], ["COGNITO"]]}]}
    assert translated["Parameters"]["Auth"]["Default"] == "oidc"


def test_the_app_may_touch_only_its_own_table_and_reads_its_secrets_from_secrets_manager(translated):
    resources_ = translated["Resources"]
    journal_statements = [s for s in _statements(resources_["AppTaskRole"]) if "dynamodb" in json.dumps(s["Action"])]
    assert len(journal_statements) == 1
    actions, resource = journal_statements[0]["Action"], journal_statements[0]["Resource"]
    assert resource == {"Fn::GetAtt": ["JournalTable", "Arn"]}  # this table only, no index, no other table
    assert not any(a in actions for a in ("dynamodb:Scan", "dynamodb:DeleteTable", "dynamodb:ExportTableToPointInTime"))
    for role_name, role in resources(translated, "AWS::IAM::Role").items():
        if role_name != "AppTaskRole":
            assert "JournalTable" not in json.dumps(_statements(role)), role_name
    container = resources_["AppTaskDefinition"]["Properties"]["ContainerDefinitions"][0]
    injected = {e["Name"]: e["ValueFrom"] for e in _when_true(container["Secrets"])}
    assert set(injected) == {"FACEMOOD_OIDC_CLIENT_ID", "FACEMOOD_OIDC_CLIENT_SECRET", "FACEMOOD_COOKIE_SECRET"}
    environment = {_when_true(e)["Name"]: _when_true(e)["Value"] for e in container["Environment"]}
    assert environment["FACEMOOD_JOURNAL_TABLE"] == {"Ref": "JournalTable"}
    assert environment["FACEMOOD_PEPPER_SECRET"] == {"Ref": "JournalPepper"}
    assert "secret" not in json.dumps(environment).lower().replace("pepper_secret", "")  # no secret in plain text
    for name in ("SignInClientSecret", "CookieSecret", "JournalPepper"):
        assert resources_[name]["Properties"]["KmsKeyId"] == {"Ref": "StudentDataKey"}


def test_waf_answers_an_absurd_language_list_in_words(translated):
    """A 10,000-character Accept-Language left a blank page (the websocket got a 431): the WAF
    refuses it first, with a page that says why."""
    acl = translated["Resources"]["WebAcl"]["Properties"]
    rule = {r["Name"]: r for r in acl["Rules"]}["language-header-size"]
    size = rule["Statement"]["SizeConstraintStatement"]
    assert size["FieldToMatch"] == {"SingleHeader": {"Name": "accept-language"}}
    assert size["ComparisonOperator"] == "GT" and 256 <= size["Size"] <= 8192  # any real browser's list fits
    response = rule["Action"]["Block"]["CustomResponse"]
    assert "languages" in acl["CustomResponseBodies"][response["CustomResponseBodyKey"]]["Content"]
    assert sorted(r["Priority"] for r in acl["Rules"]) == list(range(len(acl["Rules"])))
