"""Reading IAM statements out of a transformed template, conditions included."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

NO_VALUE = {"Ref": "AWS::NoValue"}


def _branches(value: Any) -> Iterator[Any]:
    """Every value an ``Fn::If`` tree can take (both branches, recursively), minus NoValue."""
    if isinstance(value, dict) and set(value) == {"Fn::If"}:
        _condition, when_true, when_false = value["Fn::If"]
        yield from _branches(when_true)
        yield from _branches(when_false)
    elif value != NO_VALUE:
        yield value


def policy_statements(document: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The statements of a policy document, each conditional one in every form it can take."""
    statements = document["Statement"]
    for entry in statements if isinstance(statements, list) else [statements]:
        yield from _branches(entry)


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def identity_policies(cfn: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(owner logical id, policy document) of every identity policy in the template: roles'
    inline policies, AWS::IAM::Policy and AWS::IAM::ManagedPolicy resources."""
    for logical_id, resource in cfn["Resources"].items():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::IAM::Role":
            for policy in props.get("Policies", []):
                for document in _branches(policy):
                    yield logical_id, document["PolicyDocument"]
        elif resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            yield logical_id, props["PolicyDocument"]


def managed_policy_names(role: dict[str, Any]) -> set[str]:
    """``AWSLambdaBasicExecutionRole`` ... of a role's ManagedPolicyArns."""
    names = set()
    for arn in role["Properties"].get("ManagedPolicyArns", []):
        for value in _branches(arn):
            text = value if isinstance(value, str) else value["Fn::Sub"]
            names.add(text.rsplit("/", 1)[1])
    return names
