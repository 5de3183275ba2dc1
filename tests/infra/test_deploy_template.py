"""The deployed system as template.yaml describes it: the model host, its private network,
least privilege, the parameter rules, alarms and tracing.

No AWS account here: these read the template after the SAM transform (what CloudFormation
receives) and check parameter sets with infra.rules (CloudFormation's constraint and Rules
checks, applied locally). The IAM checks are generic: they hold every role the template will
ever have to the same standard.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

import pytest

from infra.rules import check_parameters, main
from infra.template import REPO_ROOT, Template, TemplateError
from tests.infra.conftest import sam_transform
from tests.infra.iam import as_list, identity_policies, managed_policy_names, policy_statements

SUMMARIZE = "SummarizeFunction"
NO_VALUE = {"Ref": "AWS::NoValue"}

# Actions AWS only grants on "*" (no resource-level permissions), and why each is needed.
# A statement on "*" with any other action fails the test.
WILDCARD_ONLY_ACTIONS = {
    "xray:PutTraceSegments": "X-Ray trace writes have no resource ARN",
    "xray:PutTelemetryRecords": "X-Ray trace writes have no resource ARN",
    "ec2:CreateNetworkInterface": "Lambda creates the function's ENIs in the VPC's subnets",
    "ec2:DescribeNetworkInterfaces": "EC2 Describe actions have no resource ARN",
    "ec2:DescribeSubnets": "EC2 Describe actions have no resource ARN",
    "ec2:DeleteNetworkInterface": "Lambda deletes the ENIs it created",
    "ec2:AssignPrivateIpAddresses": "Lambda manages the ENIs' addresses",
    "ec2:UnassignPrivateIpAddresses": "Lambda manages the ENIs' addresses",
    "ecr:GetAuthorizationToken": "ECR registry tokens are account-wide",
    "ecs:DiscoverPollEndpoint": "the ECS agent's endpoint lookup has no resource ARN",
}
# Managed policies SAM attaches to the roles it generates for functions that name no Role:
# log writes and X-Ray writes only. Anything broader (AWSLambdaSQSQueueExecutionRole: every
# queue in the account; AWSLambdaVPCAccessExecutionRole) needs an explicit role instead.
TOLERATED_MANAGED_POLICIES = {"AWSLambdaBasicExecutionRole", "AWSXrayWriteOnlyAccess"}


def of_type(cfn: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in cfn["Resources"].items() if v["Type"] == resource_type}


def props(cfn: dict[str, Any], logical_id: str) -> dict[str, Any]:
    properties: dict[str, Any] = cfn["Resources"][logical_id]["Properties"]
    return properties


# ------------------------------------------------------------------------------------ IAM


def test_iam_wildcards_only_where_aws_requires_them(transformed: dict[str, Any]) -> None:
    template_lines = (REPO_ROOT / "template.yaml").read_text().splitlines()
    seen_wildcards = 0
    for owner, document in identity_policies(transformed):
        for statement in policy_statements(document):
            where = (owner, statement.get("Sid"))
            assert "NotAction" not in statement, where
            assert "NotResource" not in statement, where
            actions = as_list(statement["Action"])
            assert all("*" not in action for action in actions), where
            if "*" not in as_list(statement["Resource"]):
                continue
            seen_wildcards += 1
            assert statement["Resource"] == "*", where  # alone, not next to scoped ARNs
            unjustified = set(actions) - set(WILDCARD_ONLY_ACTIONS)
            assert not unjustified, (where, unjustified)
            # ... and the template says why, in a comment right above the statement.
            sid = statement.get("Sid")
            assert sid, f"{owner}: a wildcard statement needs a Sid to be found by"
            (index,) = [
                i for i, line in enumerate(template_lines) if line.strip() == f"- Sid: {sid}"
            ]
            comment: list[str] = []
            while template_lines[index - 1 - len(comment)].strip().startswith("#"):
                comment.append(template_lines[index - 1 - len(comment)].strip())
            assert "wildcard required" in " ".join(reversed(comment)).lower(), (sid, comment)
    assert seen_wildcards >= 3  # X-Ray, the VPC ENIs, ECR login (the test sees them)


def test_managed_policies_are_only_sams_narrow_defaults(transformed: dict[str, Any]) -> None:
    for logical_id, role in of_type(transformed, "AWS::IAM::Role").items():
        extra = managed_policy_names(role) - TOLERATED_MANAGED_POLICIES
        assert not extra, (logical_id, extra)


def test_a_function_with_its_own_role_lists_no_policies(template: Template) -> None:
    """SAM silently ignores Policies next to Role: a permission added there would be lost."""
    for logical_id in template.logical_ids("AWS::Serverless::Function"):
        properties = template.resource(logical_id)
        if "Role" in properties:
            assert "Policies" not in properties, logical_id


def test_summarize_role_is_its_own_and_eni_actions_only_in_a_vpc(
    transformed: dict[str, Any],
) -> None:
    function = props(transformed, SUMMARIZE)
    assert function["Role"] == {"Fn::GetAtt": ["SummarizeFunctionRole", "Arn"]}
    role = transformed["Resources"]["SummarizeFunctionRole"]
    assert managed_policy_names(role) == set()
    assume = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert [s["Principal"] for s in assume] == [{"Service": "lambda.amazonaws.com"}]
    (policy,) = role["Properties"]["Policies"]
    raw_statements = policy["PolicyDocument"]["Statement"]
    eni = [s for s in raw_statements if isinstance(s, dict) and "Fn::If" in s]
    assert len(eni) == 1
    condition, statement, otherwise = eni[0]["Fn::If"]
    assert condition == "SummarizeInVpc"
    assert otherwise == NO_VALUE
    assert {a.split(":")[0] for a in statement["Action"]} == {"ec2"}
    # The same condition attaches the function to the subnets.
    assert function["VpcConfig"]["Fn::If"][0] == "SummarizeInVpc"
    # Receive/delete: the queue's own ARN (SAM's policy would grant every queue).
    consume = next(s for s in raw_statements if s.get("Sid") == "ConsumeSummarizeJobs")
    assert set(consume["Action"]) == {
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
    }
    assert consume["Resource"] == {"Fn::GetAtt": ["SummarizeQueue", "Arn"]}


def test_model_host_roles_are_scoped_to_this_stack(transformed: dict[str, Any]) -> None:
    execution = transformed["Resources"]["ModelHostTaskExecutionRole"]["Properties"]
    grants = {
        statement["Sid"]: statement
        for policy in execution["Policies"]
        for statement in policy_statements(policy["PolicyDocument"])
    }
    assert grants["PullModelHostImage"]["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:ecr:${AWS::Region}:${AWS::AccountId}:repository/"
        "${ModelHostImageRepository}"
    }
    assert grants["WriteContainerLogs"]["Resource"] == {"Fn::GetAtt": ["ModelHostLogGroup", "Arn"]}
    instance = transformed["Resources"]["ModelHostInstanceRole"]["Properties"]
    grants = {
        statement["Sid"]: statement
        for policy in instance["Policies"]
        for statement in policy_statements(policy["PolicyDocument"])
    }
    assert grants["JoinThisCluster"]["Resource"] == {"Fn::GetAtt": ["ModelHostCluster", "Arn"]}
    assert "${ModelHostCluster}/*" in grants["ServeThisClustersInstances"]["Resource"]["Fn::Sub"]


# ---------------------------------------------------------------------- parameter rules


ACCEPTED = {
    "own host, own network": {"ModelHostImageTag": "v1"},
    "own host, existing subnets": {
        "ModelHostImageTag": "v1",
        "SummarizeSubnetIds": "subnet-1,subnet-2",
        "VpcId": "vpc-0abc",
    },
    "your host over https": {"OllamaHost": "https://ollama.example.com"},
    "your https host, function in your VPC": {
        "OllamaHost": "https://ollama.example.com",
        "SummarizeSubnetIds": "subnet-1",
        "SummarizeSecurityGroupIds": "sg-1",
    },
    "your http host inside your VPC": {
        "OllamaHostInVpc": "http://10.0.1.5:11434",
        "SummarizeSubnetIds": "subnet-1,subnet-2",
        "SummarizeSecurityGroupIds": "sg-1",
    },
}
REFUSED = {
    "http over the internet": ({"OllamaHost": "http://10.0.1.5:11434"}, "OllamaHost="),
    "http host, no VPC": (
        {"OllamaHostInVpc": "http://10.0.1.5:11434"},
        "ClearTextModelHostOnlyInsideAVpc",
    ),
    "http host, subnets without groups": (
        {"OllamaHostInVpc": "http://10.0.1.5:11434", "SummarizeSubnetIds": "subnet-1"},
        "YourSubnetsNeedYourSecurityGroups",
    ),
    "two hosts": (
        {
            "OllamaHost": "https://a.example.com",
            "OllamaHostInVpc": "http://10.0.1.5:11434",
            "SummarizeSubnetIds": "subnet-1",
            "SummarizeSecurityGroupIds": "sg-1",
        },
        "OneModelHost",
    ),
    "own host without an image": ({}, "OwnModelHostNeedsAnImage"),
    "own host in subnets without their VPC": (
        {"ModelHostImageTag": "v1", "SummarizeSubnetIds": "subnet-1"},
        "OwnModelHostInExistingSubnetsNeedsTheVpc",
    ),
    "more slots than allowed": (
        {"ModelHostImageTag": "v1", "OllamaNumParallel": "3"},
        "not one of",
    ),
    "negative minimum": ({"ModelHostImageTag": "v1", "ModelHostMinCount": "-1"}, "below 0"),
}


@pytest.mark.parametrize("case", ACCEPTED)
def test_accepted_parameter_sets(case: str, template: Template) -> None:
    assert check_parameters(template, ACCEPTED[case]) == []


@pytest.mark.parametrize("case", REFUSED)
def test_refused_parameter_sets(case: str, template: Template) -> None:
    overrides, reason = REFUSED[case]
    problems = check_parameters(template, overrides)
    assert problems, case
    assert any(reason in problem for problem in problems), problems


def test_rules_command_exit_status(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ModelHostImageTag=v1"]) == 0
    assert main(["OllamaHost=http://10.0.1.5:11434"]) == 1
    assert "OllamaHostInVpc" in capsys.readouterr().err  # says what to do instead
    assert main(["NoSuchParameter=1"]) == 1


def test_rules_use_only_rule_functions_the_checker_knows(template: Template) -> None:
    """Every rule evaluates (an unsupported function would raise), and survives the SAM
    transform unchanged, so CloudFormation enforces the same rules the tests check."""
    rules = template.raw["Rules"]
    assert len(rules) >= 4
    check_parameters(template, {"ModelHostImageTag": "v1"})
    bogus = Template(
        path=template.path,
        raw={
            **template.raw,
            "Rules": {"R": {"Assertions": [{"Assert": {"Fn::ValueOf": ["VpcId", "Tags"]}}]}},
        },
    )
    with pytest.raises(TemplateError, match="not supported"):
        check_parameters(bogus, {"ModelHostImageTag": "v1"})


@pytest.mark.parametrize("case", ACCEPTED)
def test_accepted_parameter_sets_pass_the_sam_transform(case: str, template: Template) -> None:
    cfn = sam_transform(template, ACCEPTED[case])
    # The conditions stay for CloudFormation to decide: one template serves every path.
    assert props(cfn, SUMMARIZE)["VpcConfig"]["Fn::If"][0] == "SummarizeInVpc"
    assert cfn["Resources"]["ModelHostService"]["Condition"] == "OwnModelHost"


def test_transform_keeps_rules_and_mappings(
    template: Template, transformed: dict[str, Any]
) -> None:
    assert transformed["Rules"] == template.raw["Rules"]
    assert transformed["Mappings"] == template.raw["Mappings"]


# --------------------------------------------------------------------------- the network


def test_own_network_private_subnets_in_two_zones(transformed: dict[str, Any]) -> None:
    subnets = of_type(transformed, "AWS::EC2::Subnet")
    assert set(subnets) == {"PrivateSubnetA", "PrivateSubnetB"}
    zones = [subnets[s]["Properties"]["AvailabilityZone"] for s in sorted(subnets)]
    assert zones == [
        {"Fn::Select": [0, {"Fn::GetAZs": ""}]},
        {"Fn::Select": [1, {"Fn::GetAZs": ""}]},
    ]
    for subnet in subnets.values():
        assert subnet["Condition"] == "OwnNetwork"
        assert subnet["Properties"]["MapPublicIpOnLaunch"] is False
    # No way out to the internet: no gateway, no NAT, no route but the endpoints'.
    for forbidden in (
        "AWS::EC2::InternetGateway",
        "AWS::EC2::NatGateway",
        "AWS::EC2::Route",
        "AWS::EC2::EIP",
    ):
        assert not of_type(transformed, forbidden), forbidden


def test_vpc_cidr_default_holds_the_two_subnets(template: Template) -> None:
    network = ipaddress.ip_network(template.parameter_default("VpcCidr"))
    assert network.is_private
    assert network.prefixlen <= 19  # two /20 subnets (!Cidr [VpcCidr, 2, 12])


def test_endpoints_for_everything_called_from_the_vpc(transformed: dict[str, Any]) -> None:
    endpoints = of_type(transformed, "AWS::EC2::VPCEndpoint")
    by_service = {}
    for endpoint in endpoints.values():
        name = endpoint["Properties"]["ServiceName"]["Fn::Sub"]
        by_service[name.rsplit(".", 1)[-1] if "ecr." not in name else name.split("}.", 1)[1]] = (
            endpoint["Properties"]
        )
    gateways = {s for s, p in by_service.items() if p["VpcEndpointType"] == "Gateway"}
    interfaces = {s for s, p in by_service.items() if p["VpcEndpointType"] == "Interface"}
    assert gateways == {"s3", "dynamodb"}
    assert {"sqs", "ssm", "xray", "logs", "events"} <= interfaces  # the functions' calls
    assert {"ecs", "ecs-agent", "ecs-telemetry", "ecr.api", "ecr.dkr"} <= interfaces  # hosts
    for service in interfaces:
        endpoint = by_service[service]
        assert endpoint["PrivateDnsEnabled"] is True, service
        assert endpoint["SubnetIds"] == [{"Ref": "PrivateSubnetA"}, {"Ref": "PrivateSubnetB"}]
    for service in gateways:
        assert by_service[service]["RouteTableIds"] == [{"Ref": "PrivateRouteTable"}]


def _ingress_rules(transformed: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    rules = []
    for logical_id, group in of_type(transformed, "AWS::EC2::SecurityGroup").items():
        rules += [(logical_id, r) for r in group["Properties"].get("SecurityGroupIngress", [])]
    for rule in of_type(transformed, "AWS::EC2::SecurityGroupIngress").values():
        rules.append((rule["Properties"]["GroupId"]["Ref"], rule["Properties"]))
    return rules


def test_model_host_port_only_from_the_summarize_function(transformed: dict[str, Any]) -> None:
    rules = _ingress_rules(transformed)
    to_ollama = [(g, r) for g, r in rules if r["FromPort"] <= 11434 <= r["ToPort"]]
    assert to_ollama == [
        (
            "ModelHostSecurityGroup",
            {
                "Description": to_ollama[0][1]["Description"],
                "GroupId": {"Ref": "ModelHostSecurityGroup"},
                "IpProtocol": "tcp",
                "FromPort": 11434,
                "ToPort": 11434,
                "SourceSecurityGroupId": {"Ref": "SummarizeFunctionSecurityGroup"},
            },
        )
    ]
    for group, rule in rules:  # nothing in the template admits the internet
        assert rule.get("CidrIp") != "0.0.0.0/0", group
        assert "CidrIpv6" not in rule, group
    service = props(transformed, "ModelHostService")
    network = service["NetworkConfiguration"]["AwsvpcConfiguration"]
    assert network["AssignPublicIp"] == "DISABLED"
    assert network["SecurityGroups"] == [{"Ref": "ModelHostSecurityGroup"}]


def test_summarize_function_runs_in_the_private_subnets(transformed: dict[str, Any]) -> None:
    vpc = props(transformed, SUMMARIZE)["VpcConfig"]["Fn::If"]
    condition, attached, otherwise = vpc
    assert (condition, otherwise) == ("SummarizeInVpc", NO_VALUE)
    assert attached["SubnetIds"] == {
        "Fn::If": [
            "OwnNetwork",
            [{"Ref": "PrivateSubnetA"}, {"Ref": "PrivateSubnetB"}],
            {"Ref": "SummarizeSubnetIds"},
        ]
    }
    assert attached["SecurityGroupIds"]["Fn::If"][:2] == [
        "OwnModelHost",
        [{"Ref": "SummarizeFunctionSecurityGroup"}],
    ]
    conditions = transformed["Conditions"]
    assert {"Condition": "OwnModelHost"} in conditions["SummarizeInVpc"]["Fn::Or"]
    # ... and reaches the host by its private name.
    env = props(transformed, SUMMARIZE)["Environment"]["Variables"]["OLLAMA_HOST"]["Fn::If"]
    assert env[0] == "OwnModelHost"
    assert env[1]["Fn::Sub"].startswith("http://${ModelHostDiscoveryService.Name}.")
    namespace = props(transformed, "ModelHostNamespace")
    assert env[1]["Fn::Sub"].split("Name}.", 1)[1] == namespace["Name"]["Fn::Sub"] + ":11434"


def test_own_model_host_resources_are_conditional(template: Template) -> None:
    """Your own host (OllamaHost / OllamaHostInVpc) creates none of the model host or network."""
    for logical_id, resource in template.resources.items():
        if logical_id.startswith("ModelHost") or resource["Type"].startswith(
            (
                "AWS::EC2::",
                "AWS::ECS::",
                "AWS::ServiceDiscovery::",
                "AWS::AutoScaling::",
                "AWS::ApplicationAutoScaling::",
            )
        ):
            assert resource.get("Condition") in ("OwnModelHost", "OwnNetwork"), logical_id


# ------------------------------------------------------------------------ the model host


def test_model_host_container(template: Template, transformed: dict[str, Any]) -> None:
    task = props(transformed, "ModelHostTaskDefinition")
    assert task["RequiresCompatibilities"] == ["EC2"]
    assert task["NetworkMode"] == "awsvpc"
    (container,) = task["ContainerDefinitions"]
    env = {e["Name"]: e["Value"] for e in container["Environment"]}
    assert env == {
        "OLLAMA_MODEL": {"Ref": "OllamaModel"},
        "OLLAMA_NUM_PARALLEL": {"Ref": "OllamaNumParallel"},
        "OLLAMA_KEEP_ALIVE": {"Ref": "OllamaKeepAlive"},
    }
    assert container["PortMappings"] == [{"ContainerPort": 11434, "Protocol": "tcp"}]
    # Health = the model is listed and warmed: the same test as the image's HEALTHCHECK.
    command = container["HealthCheck"]["Command"]
    assert command[0] == "CMD-SHELL"
    dockerfile = (REPO_ROOT / "ollama-host" / "Dockerfile").read_text()
    assert "ollama list | grep -q" in command[1]
    assert "ollama list | grep -q" in dockerfile
    assert "/tmp/ollama-ready" in command[1]
    assert "/tmp/ollama-ready" in (REPO_ROOT / "ollama-host" / "entrypoint.sh").read_text()
    assert container["HealthCheck"]["StartPeriod"] == 300  # ECS's maximum: the model loads
    assert container["ResourceRequirements"]["Fn::If"][0] == "ModelHostHasGpu"
    assert template.parameter_default("ModelHostGpuCount") == 0
    # One host per instance, registered by health in Cloud Map.
    service = props(transformed, "ModelHostService")
    assert service["PlacementConstraints"] == [{"Type": "distinctInstance"}]
    assert "DesiredCount" not in service  # the scaling target owns it
    (registry,) = service["ServiceRegistries"]
    assert registry["RegistryArn"] == {"Fn::GetAtt": ["ModelHostDiscoveryService", "Arn"]}
    discovery = props(transformed, "ModelHostDiscoveryService")
    assert discovery["HealthCheckCustomConfig"] == {"FailureThreshold": 1}


def test_instance_type_parameter_cpu_default(template: Template) -> None:
    params = template.parameters
    assert template.parameter_default("ModelHostInstanceType") == "c7i.xlarge"
    assert "g4dn.xlarge" in params["ModelHostInstanceType"]["Description"]  # the GPU choice
    launch = template.resource("ModelHostLaunchTemplate")["LaunchTemplateData"]
    assert launch["InstanceType"] == "c7i.xlarge"
    assert launch["MetadataOptions"]["HttpTokens"] == "required"
    assert all(m["Ebs"]["Encrypted"] for m in launch["BlockDeviceMappings"])
    assert launch["ImageId"]["Fn::Sub"] == "{{resolve:ssm:${ModelHostAmiParameter}}}"


def test_image_comes_from_this_accounts_ecr(transformed: dict[str, Any]) -> None:
    (container,) = props(transformed, "ModelHostTaskDefinition")["ContainerDefinitions"]
    assert container["Image"] == {
        "Fn::Sub": "${AWS::AccountId}.dkr.ecr.${AWS::Region}.${AWS::URLSuffix}/"
        "${ModelHostImageRepository}:${ModelHostImageTag}"
    }


# -------------------------------------------------------------------------------- capacity


def test_concurrency_is_hosts_times_slots(template: Template) -> None:
    table = template.raw["Mappings"]["SummarizeConcurrency"]
    hosts = [str(v) for v in template.parameters["ModelHostMaxCount"]["AllowedValues"]]
    slots = [str(v) for v in template.parameters["OllamaNumParallel"]["AllowedValues"]]
    assert sorted(table) == sorted(hosts)
    for h in hosts:
        assert sorted(table[h]) == sorted(slots)
        for s in slots:
            # SQS event sources take no less than 2
            assert table[h][s] == max(2, int(h) * int(s)), (h, s)
    spare = template.raw["Mappings"]["ModelHostInstances"]
    assert {h: spare[h]["Max"] for h in hosts} == {h: int(h) + 1 for h in hosts}


def test_hosts_scale_on_backlog_per_host(template: Template, transformed: dict[str, Any]) -> None:
    target = props(transformed, "ModelHostScalableTarget")
    assert target["ScalableDimension"] == "ecs:service:DesiredCount"
    assert target["MinCapacity"] == {"Ref": "ModelHostMinCount"}
    assert target["MaxCapacity"] == {"Ref": "ModelHostMaxCount"}
    assert template.parameters["ModelHostMinCount"]["MinValue"] == 0  # scale to zero allowed
    policy = props(transformed, "ModelHostBacklogScaling")
    assert policy["PolicyType"] == "TargetTrackingScaling"
    config = policy["TargetTrackingScalingPolicyConfiguration"]
    assert config["TargetValue"] == {"Ref": "ModelHostBacklogPerHost"}
    metrics = {m["Id"]: m for m in config["CustomizedMetricSpecification"]["Metrics"]}
    returned = [m for m in metrics.values() if m.get("ReturnData")]
    assert [m["Id"] for m in returned] == ["backlog_per_host"]
    expression = returned[0]["Expression"]
    assert re.search(r"\(waiting \+ in_flight\) /", expression)
    names = {
        i: m["MetricStat"]["Metric"]["MetricName"] for i, m in metrics.items() if "MetricStat" in m
    }
    assert names == {
        "waiting": "ApproximateNumberOfMessagesVisible",
        "in_flight": "ApproximateNumberOfMessagesNotVisible",
        "hosts": "RunningTaskCount",
    }
    # From zero: an alarm on "work waiting, no host" adds the first one.
    alarm = props(transformed, "ModelHostWakeUpAlarm")
    assert alarm["AlarmActions"] == [{"Ref": "ModelHostWakeUpScaling"}]
    wake = props(transformed, "ModelHostWakeUpScaling")["StepScalingPolicyConfiguration"]
    assert wake["StepAdjustments"] == [{"MetricIntervalLowerBound": 0, "ScalingAdjustment": 1}]


# ---------------------------------------------------------------------- alarms and tracing


def test_every_alarm_notifies_the_topic(transformed: dict[str, Any]) -> None:
    alarms = of_type(transformed, "AWS::CloudWatch::Alarm")
    for logical_id, alarm in alarms.items():
        if logical_id == "ModelHostWakeUpAlarm":
            continue  # drives scaling, not people
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}], logical_id
    subscription = transformed["Resources"]["AlarmEmailSubscription"]
    assert subscription["Condition"] == "AlarmEmailGiven"
    assert subscription["Properties"]["Endpoint"] == {"Ref": "AlarmEmail"}
    policy = props(transformed, "AlarmTopicPolicy")["PolicyDocument"]["Statement"]
    assert [s["Principal"] for s in policy] == [{"Service": "cloudwatch.amazonaws.com"}]


def test_alarms_on_oldest_message_and_error_rate(transformed: dict[str, Any]) -> None:
    age = props(transformed, "SummarizeQueueOldestMessageAlarm")
    assert age["MetricName"] == "ApproximateAgeOfOldestMessage"
    assert age["Dimensions"][0]["Value"] == {"Fn::GetAtt": ["SummarizeQueue", "QueueName"]}
    rate = props(transformed, "SummarizeFunctionErrorRateAlarm")
    metrics = {m["Id"]: m for m in rate["Metrics"]}
    for name, metric in (("errors", "Errors"), ("invocations", "Invocations")):
        stat = metrics[name]["MetricStat"]["Metric"]
        assert stat["MetricName"] == metric
        assert stat["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": SUMMARIZE}}]
    assert "100 * errors / invocations" in metrics["error_rate"]["Expression"]
    assert rate["Threshold"] == 5


def test_tracer_captures_no_payloads(transformed: dict[str, Any]) -> None:
    for logical_id in of_type(transformed, "AWS::Lambda::Function"):
        env = props(transformed, logical_id)["Environment"]["Variables"]
        assert env["POWERTOOLS_TRACER_CAPTURE_RESPONSE"] == "false", logical_id
        assert env["POWERTOOLS_TRACER_CAPTURE_ERROR"] == "false", logical_id
