"""The deployed system as template.yaml describes it: the model host, its private network,
least privilege, the parameter rules, alarms and tracing.

No AWS account here: these read the template after the SAM transform (what CloudFormation
receives) and check parameter sets with infra.rules (CloudFormation's constraint and Rules
checks, applied locally). The IAM checks are generic: they hold every role the template will
ever have to the same standard.
"""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Any

import pytest
from docsum.adapters.lambda_page import FETCH_FUNCTION_MARGIN_SECONDS, invoke_read_timeout
from docsum.domain.ids import PAGES_PREFIX
from docsum.platform.settings import Settings

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
ZONE_SUBNETS = {
    "Fn::If": [
        "OwnNetworkInTwoZones",
        [{"Ref": "PrivateSubnetA"}, {"Ref": "PrivateSubnetB"}],
        [{"Ref": "PrivateSubnetA"}],
    ]
}


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


def test_no_role_carries_a_managed_policy(transformed: dict[str, Any]) -> None:
    """Every role is written out in the template: SAM's generated function roles would carry
    the account-wide AWSLambdaBasicExecutionRole (every log group) and X-Ray managed policies."""
    roles = of_type(transformed, "AWS::IAM::Role")
    assert {"IngestFunctionRole", "SweeperFunctionRole"} <= set(roles)
    for logical_id, role in roles.items():
        assert managed_policy_names(role) == set(), logical_id
        assert "ManagedPolicyArns" not in role["Properties"], logical_id
    for logical_id in of_type(transformed, "AWS::Lambda::Function"):
        role_ref = props(transformed, logical_id)["Role"]
        assert role_ref == {"Fn::GetAtt": [f"{logical_id}Role", "Arn"]}, logical_id


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
    # Only in a VPC: the ENI actions, and web pages through FetchFunction (invoke it, read
    # and delete what it left under pages/).
    in_vpc = {}
    for entry in raw_statements:
        if isinstance(entry, dict) and "Fn::If" in entry:
            condition, statement, otherwise = entry["Fn::If"]
            assert (condition, otherwise) == ("SummarizeInVpc", NO_VALUE)
            in_vpc[statement["Sid"]] = statement
    assert set(in_vpc) == {
        "ManageVpcNetworkInterfaces",
        "FetchPagesOutsideTheVpc",
        "ReadAndDeleteFetchedPages",
        "FindFetchedPageVersions",
    }
    assert {a.split(":")[0] for a in in_vpc["ManageVpcNetworkInterfaces"]["Action"]} == {"ec2"}
    assert in_vpc["FetchPagesOutsideTheVpc"]["Resource"] == {"Fn::GetAtt": ["FetchFunction", "Arn"]}
    assert in_vpc["FindFetchedPageVersions"]["Condition"] == {
        "StringLike": {"s3:prefix": ["pages/*"]}
    }
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
    "own host, a published image by URI": {
        "ModelHostImageUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/ghcr/acme/x:v1",
        "ModelHostImageRepository": "ghcr/acme/x",
    },
    "own host, two zones and every endpoint": {
        "ModelHostImageTag": "v1",
        "VpcZoneCount": "2",
        "VpcOptionalEndpoints": "xray",
    },
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
    "three zones": ({"ModelHostImageTag": "v1", "VpcZoneCount": "3"}, "not one of"),
    "an image URI without a tag or digest": (
        {"ModelHostImageUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/x"},
        "ModelHostImageUri=",
    ),
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


def test_own_network_private_subnets_in_one_or_two_zones(
    template: Template, transformed: dict[str, Any]
) -> None:
    subnets = of_type(transformed, "AWS::EC2::Subnet")
    assert set(subnets) == {"PrivateSubnetA", "PrivateSubnetB"}
    zones = [subnets[s]["Properties"]["AvailabilityZone"] for s in sorted(subnets)]
    assert zones == [
        {"Fn::Select": [0, {"Fn::GetAZs": ""}]},
        {"Fn::Select": [1, {"Fn::GetAZs": ""}]},
    ]
    # One zone by default (every interface endpoint is billed per zone); a second on request.
    zone_count = template.parameters["VpcZoneCount"]
    assert (zone_count["Default"], zone_count["AllowedValues"]) == (1, [1, 2])
    assert transformed["Conditions"]["OwnNetworkInTwoZones"] == {
        "Fn::And": [{"Condition": "OwnNetwork"}, {"Fn::Equals": [{"Ref": "VpcZoneCount"}, 2]}]
    }
    assert subnets["PrivateSubnetA"]["Condition"] == "OwnNetwork"
    assert subnets["PrivateSubnetB"]["Condition"] == "OwnNetworkInTwoZones"
    association = transformed["Resources"]["PrivateSubnetBRouteTable"]
    assert association["Condition"] == "OwnNetworkInTwoZones"
    for subnet in subnets.values():
        assert subnet["Properties"]["MapPublicIpOnLaunch"] is False
    # Everything placed in the stack's subnets follows the zone count.
    placed = [
        props(transformed, SUMMARIZE)["VpcConfig"]["Fn::If"][1]["SubnetIds"]["Fn::If"][1],
        props(transformed, "ModelHostAutoScalingGroup")["VPCZoneIdentifier"]["Fn::If"][1],
        props(transformed, "ModelHostService")["NetworkConfiguration"]["AwsvpcConfiguration"][
            "Subnets"
        ]["Fn::If"][1],
    ]
    placed += [
        endpoint["Properties"]["SubnetIds"]
        for endpoint in of_type(transformed, "AWS::EC2::VPCEndpoint").values()
        if endpoint["Properties"]["VpcEndpointType"] == "Interface"
    ]
    assert len(placed) == 3 + 10
    assert all(subnets == ZONE_SUBNETS for subnets in placed), placed
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


# Every interface endpoint costs ~$7.30 a month per zone: only what something in the VPC calls.
REQUIRED_INTERFACE_ENDPOINTS = {
    "sqs": "the summarize function: retry backoff, dead-letter and webhook sends",
    "events": "the summarize function: completion events",
    "logs": "the hosts' container logs (awslogs): a task cannot start without it",
    "ecs": "the ECS agent on the hosts",
    "ecs-agent": "the ECS agent on the hosts",
    # The agent reports container health over its telemetry session (PublishHealthRequest in
    # amazon-ecs-agent's tcs client): without it no task turns healthy, Cloud Map never
    # answers with a host and deployments never finish.
    "ecs-telemetry": "the hosts' container health (and metrics)",
    "ecr.api": "image pulls: authorization and manifests",
    "ecr.dkr": "image pulls: the registry (layers come through the S3 gateway)",
    "lambda": "the summarize function: invoking FetchFunction for web pages (no NAT)",
}
OPTIONAL_INTERFACE_ENDPOINTS = {"xray": "TraceEndpoint"}


def test_endpoints_only_for_what_the_vpc_calls(
    template: Template, transformed: dict[str, Any]
) -> None:
    by_service = {}
    for endpoint in of_type(transformed, "AWS::EC2::VPCEndpoint").values():
        name = endpoint["Properties"]["ServiceName"]["Fn::Sub"]
        by_service[name.split("${AWS::Region}.", 1)[1]] = endpoint
    gateways = {s for s, e in by_service.items() if e["Properties"]["VpcEndpointType"] == "Gateway"}
    interfaces = set(by_service) - gateways
    assert gateways == {"s3", "dynamodb"}
    # SSM: nothing inside the VPC reads a parameter (the ingest and webhook functions do, and
    # run outside it); X-Ray: optional (VpcOptionalEndpoints).
    assert interfaces == set(REQUIRED_INTERFACE_ENDPOINTS) | set(OPTIONAL_INTERFACE_ENDPOINTS)
    for service in interfaces:
        endpoint = by_service[service]
        expected = OPTIONAL_INTERFACE_ENDPOINTS.get(service, "OwnNetwork")
        assert endpoint["Condition"] == expected, service
        assert endpoint["Properties"]["PrivateDnsEnabled"] is True, service
    for service in gateways:
        assert by_service[service]["Properties"]["RouteTableIds"] == [{"Ref": "PrivateRouteTable"}]
    optional = template.parameters["VpcOptionalEndpoints"]
    assert optional["Default"] == "none"
    assert set(optional["AllowedValues"]) == {"none", "xray"}
    for service, condition in OPTIONAL_INTERFACE_ENDPOINTS.items():
        wanted = [
            value
            for value in optional["AllowedValues"]
            if _decide(template, condition, VpcOptionalEndpoints=value)
        ]
        assert wanted == [v for v in optional["AllowedValues"] if service in v.split("+")]


def _decide(template: Template, condition: str, **parameters: Any) -> bool | None:
    """A condition's value with these parameter values (the others at their defaults)."""
    raw = json.loads(json.dumps(template.raw))
    for name, value in parameters.items():
        raw["Parameters"][name]["Default"] = value
    # Deploying the stack's own host needs an image; its value does not matter here.
    raw["Parameters"]["ModelHostImageTag"]["Default"] = "v1"
    return Template(path=template.path, raw=raw).resolve_parameters(
        {"Fn::If": [condition, True, False]}
    )


def test_idle_default_interface_endpoint_count(template: Template) -> None:
    """The cost table's idle default: 9 interface endpoints in one zone (docs: deploying)."""
    raw = template.raw["Resources"]
    interface_ids = [
        lid
        for lid, res in raw.items()
        if res["Type"] == "AWS::EC2::VPCEndpoint"
        and res["Properties"]["VpcEndpointType"] == "Interface"
    ]
    created = [lid for lid in interface_ids if _decide(template, raw[lid]["Condition"])]
    assert len(created) == len(REQUIRED_INTERFACE_ENDPOINTS) == 9
    assert _decide(template, "OwnNetworkInTwoZones") is False
    assert _decide(template, "OwnNetworkInTwoZones", VpcZoneCount=2) is True
    everything = [
        lid
        for lid in interface_ids
        if _decide(template, raw[lid]["Condition"], VpcOptionalEndpoints="xray")
    ]
    assert len(everything) == 10


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
        "Fn::If": ["OwnNetwork", ZONE_SUBNETS, {"Ref": "SummarizeSubnetIds"}]
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


FETCH = "FetchFunction"


def test_pages_are_fetched_outside_the_vpc_exactly_when_the_worker_is_inside_one(
    template: Template, transformed: dict[str, Any]
) -> None:
    """The VPC has no NAT gateway: a worker inside it gets web pages through FetchFunction,
    which runs outside any VPC; a worker outside one fetches them itself, and then nothing of
    FetchFunction exists."""
    fetch_parts = [FETCH, f"{FETCH}Role", f"{FETCH}LogGroup", f"{FETCH}ErrorRateAlarm"]
    for logical_id in fetch_parts:
        assert template.raw["Resources"][logical_id]["Condition"] == "SummarizeInVpc", logical_id
    assert _decide(template, "SummarizeInVpc") is True  # the stack's own host
    assert _decide(template, "SummarizeInVpc", OllamaHost="https://ollama.example.com") is False
    yours_in_a_vpc = {"OllamaHostInVpc": "http://10.0.1.5:11434", "SummarizeSubnetIds": "s-1"}
    assert _decide(template, "SummarizeInVpc", **yours_in_a_vpc) is True
    function = props(transformed, FETCH)
    assert "VpcConfig" not in function
    assert function["Role"] == {"Fn::GetAtt": [f"{FETCH}Role", "Arn"]}
    spec = template.function(FETCH)
    assert spec.code_uri == REPO_ROOT / "functions" / "fetch"
    assert spec.handler == "fetch_handler.handler"
    assert [layer.logical_id for layer in spec.layers] == ["CoreLayer"]  # no parsers: no OCR
    # Its Timeout is the page's time cap plus the margin to store it, and the worker waits for
    # longer than that: a slow page ends as `page timed out`, never as a client timeout.
    declared = {
        spec.environment.get("PAGE_TIMEOUT_SECONDS"),
        template.function(SUMMARIZE).environment.get("PAGE_TIMEOUT_SECONDS"),
    }
    assert len(declared) == 1, "both functions must fetch under the same time cap"
    (page_timeout,) = declared
    cap = float(page_timeout or Settings.model_fields["page_timeout_seconds"].default)
    assert spec.timeout == cap + FETCH_FUNCTION_MARGIN_SECONDS
    assert invoke_read_timeout(cap) > spec.timeout
    # The page it leaves is read once and deleted; a crash's leftovers go within a day.
    rules = template.resource("DocumentsBucket")["LifecycleConfiguration"]["Rules"]
    (pages,) = [rule for rule in rules if rule.get("Prefix") == PAGES_PREFIX]
    assert pages["Status"] == "Enabled"
    assert (pages["ExpirationInDays"], pages["NoncurrentVersionExpiration"]) == (
        1,
        {"NoncurrentDays": 1},
    )
    # Alarmed like the summarize function: whole invocations failing (a page's own failure
    # is an answer, not an error).
    rate = props(transformed, f"{FETCH}ErrorRateAlarm")
    metrics = {m["Id"]: m for m in rate["Metrics"]}
    for name in ("errors", "invocations"):
        dimensions = metrics[name]["MetricStat"]["Metric"]["Dimensions"]
        assert dimensions == [{"Name": "FunctionName", "Value": {"Ref": FETCH}}]


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
            condition = resource.get("Condition")
            assert condition, logical_id
            for yours in ({"OllamaHost": "https://ollama.example.com"}, {"OllamaHostInVpc": "x"}):
                assert _decide(template, condition, **yours) is False, (logical_id, yours)


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
    # Health = a real one-token generation (ollama-healthcheck.sh, also the image's
    # HEALTHCHECK and the entrypoint's warm-up), not "the model is listed".
    script = "/usr/local/bin/ollama-healthcheck.sh"
    assert container["HealthCheck"]["Command"] == ["CMD", script]
    dockerfile = (REPO_ROOT / "ollama-host" / "Dockerfile").read_text()
    assert f'CMD ["{script}"]' in dockerfile
    assert f"COPY ollama-healthcheck.sh {script}" in dockerfile
    assert "--warm-up" in (REPO_ROOT / "ollama-host" / "entrypoint.sh").read_text()
    assert container["HealthCheck"]["StartPeriod"] == 300  # ECS's maximum: the model loads
    # The check's own budget (OLLAMA_HEALTH_TIMEOUT, 10 s) fits inside ECS's timeout.
    assert container["HealthCheck"]["Timeout"] > 10
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


def test_model_host_container_runs_unprivileged_on_a_read_only_root(
    transformed: dict[str, Any],
) -> None:
    task = props(transformed, "ModelHostTaskDefinition")
    (container,) = task["ContainerDefinitions"]
    dockerfile = (REPO_ROOT / "ollama-host" / "Dockerfile").read_text()
    assert container["User"] == "10001:10001"
    assert "USER 10001:10001" in dockerfile
    assert "--uid 10001" in dockerfile
    assert container["ReadonlyRootFilesystem"] is True
    assert container["LinuxParameters"]["Capabilities"] == {"Drop": ["ALL"]}
    # Writable: the user's home (the key `ollama serve` makes) and /tmp (the ready marks),
    # as task-scoped Docker volumes (a copy of the image's folder, owned by the user).
    mounts = {m["ContainerPath"]: m["SourceVolume"] for m in container["MountPoints"]}
    assert set(mounts) == {"/home/ollama/.ollama", "/tmp"}
    volumes = {v["Name"]: v for v in task["Volumes"]}
    assert set(volumes) == set(mounts.values())
    for volume in volumes.values():
        assert volume["DockerVolumeConfiguration"] == {"Scope": "task", "Driver": "local"}
    assert "HOME=/home/ollama" in dockerfile
    assert "OLLAMA_NOPRUNE=1" in dockerfile  # never writes to the baked model store


# Intel Sapphire Rapids and later carry AMX; the pinned Ollama (0.12.10) crashes in its AMX CPU
# backend on the first generation there (ollama#17205; fixed upstream in 0.32.2).
AMX_FAMILIES = ("c7i", "m7i", "r7i", "c7i-flex", "m7i-flex", "c8i", "m8i", "r8i", "i7i")


def test_default_instance_type_has_no_amx(template: Template) -> None:
    params = template.parameters
    default = template.parameter_default("ModelHostInstanceType")
    assert default == "c7a.xlarge"  # AMD Genoa: AVX-512, no AMX
    assert default.split(".")[0] not in AMX_FAMILIES
    assert "g4dn.xlarge" in params["ModelHostInstanceType"]["Description"]  # the GPU choice
    assert "Sapphire Rapids" in params["ModelHostInstanceType"]["Description"]
    launch = template.resource("ModelHostLaunchTemplate")["LaunchTemplateData"]
    assert launch["InstanceType"] == default
    assert launch["MetadataOptions"]["HttpTokens"] == "required"
    assert all(m["Ebs"]["Encrypted"] for m in launch["BlockDeviceMappings"])
    assert launch["ImageId"]["Fn::Sub"] == "{{resolve:ssm:${ModelHostAmiParameter}}}"


def test_image_from_this_accounts_ecr_or_a_full_uri(
    template: Template, transformed: dict[str, Any]
) -> None:
    (container,) = props(transformed, "ModelHostTaskDefinition")["ContainerDefinitions"]
    assert container["Image"] == {
        "Fn::If": [
            "ModelHostImageFromUri",
            {"Ref": "ModelHostImageUri"},
            {
                "Fn::Sub": "${AWS::AccountId}.dkr.ecr.${AWS::Region}.${AWS::URLSuffix}/"
                "${ModelHostImageRepository}:${ModelHostImageTag}"
            },
        ]
    }
    pattern = template.parameters["ModelHostImageUri"]["AllowedPattern"]
    cache = "123456789012.dkr.ecr.us-east-1.amazonaws.com/ghcr/acme/docsum-ollama"
    for good in ("", f"{cache}:v1.2.0", f"{cache}@sha256:{'a' * 64}", "ghcr.io/acme/x:v1"):
        assert re.fullmatch(pattern, good), good
    for bad in ("docsum-ollama", f"{cache}", f"{cache}:", "https://ghcr.io/acme/x:v1"):
        assert not re.fullmatch(pattern, bad), bad
    # A pull-through cache repository is filled on the first pull: only with a URI, and only
    # the repository the parameter names.
    execution = props(transformed, "ModelHostTaskExecutionRole")
    (policy,) = execution["Policies"]
    conditional = [s for s in policy["PolicyDocument"]["Statement"] if "Fn::If" in s]
    ((condition, statement, otherwise),) = [s["Fn::If"] for s in conditional]
    assert (condition, otherwise) == ("ModelHostImageFromUri", NO_VALUE)
    assert set(statement["Action"]) == {"ecr:CreateRepository", "ecr:BatchImportUpstreamImage"}
    assert statement["Resource"]["Fn::Sub"].endswith(":repository/${ModelHostImageRepository}")


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
    # Divided by the desired count: target tracking multiplies the desired count, and the
    # running count lags it for minutes while a host boots (the count would overshoot).
    assert names == {
        "waiting": "ApproximateNumberOfMessagesVisible",
        "in_flight": "ApproximateNumberOfMessagesNotVisible",
        "hosts": "DesiredTaskCount",
    }
    assert metrics["hosts"]["MetricStat"]["Metric"]["Namespace"] == "ECS/ContainerInsights"
    assert re.search(r"/ IF\(FILL\(hosts, 0\) < 1, 1, FILL\(hosts, 0\)\)$", expression)
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
