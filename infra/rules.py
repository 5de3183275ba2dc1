"""Check deploy parameters against template.yaml as CloudFormation would, before a deploy.

CloudFormation refuses a stack operation whose parameters break a constraint (AllowedPattern,
AllowedValues, MinValue/MaxValue) or a ``Rules`` assertion, before it touches any resource.
This module applies the same checks locally, so ``make deploy`` fails in a second instead of
after a build and upload, and the tests can try refused and accepted parameter sets without
an AWS account::

    python -m infra.rules OllamaHost=http://10.0.1.5:11434      # prints why, exits 1
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from infra.template import Template, TemplateError, load_template

ParameterValue = str | list[str]


def parameter_values(template: Template, overrides: Mapping[str, str]) -> dict[str, ParameterValue]:
    """Every parameter's value as CloudFormation sees it: the override, else the default;
    a CommaDelimitedList becomes a list of strings."""
    declared = template.parameters
    unknown = sorted(set(overrides) - set(declared))
    if unknown:
        raise TemplateError(f"unknown parameters: {', '.join(unknown)}")
    values: dict[str, ParameterValue] = {}
    for name, spec in declared.items():
        if name in overrides:
            raw = overrides[name]
        elif "Default" in spec:
            raw = _text(spec["Default"])
        else:
            raise TemplateError(f"parameter {name} has no default and no value")
        values[name] = raw.split(",") if spec.get("Type") == "CommaDelimitedList" else raw
    return values


def constraint_problems(template: Template, values: Mapping[str, ParameterValue]) -> list[str]:
    """Violations of each parameter's own constraints."""
    problems = []
    for name, spec in template.parameters.items():
        value = values[name]
        texts = value if isinstance(value, list) else [value]
        for text in texts:
            if "AllowedValues" in spec and text not in [_text(v) for v in spec["AllowedValues"]]:
                problems.append(f"{name}={text!r}: not one of {spec['AllowedValues']}")
            pattern = spec.get("AllowedPattern")
            if pattern is not None and not re.fullmatch(pattern, text):
                why = spec.get("ConstraintDescription", f"must match {pattern}")
                problems.append(f"{name}={text!r}: {' '.join(str(why).split())}")
            if spec.get("Type") == "Number":
                problems.extend(_number_problems(name, text, spec))
    return problems


def rule_problems(template: Template, values: Mapping[str, ParameterValue]) -> list[str]:
    """The AssertDescription of every Rules assertion that fails (rules whose RuleCondition
    holds, or that have none)."""
    problems = []
    for rule_name, rule in template.raw.get("Rules", {}).items():
        if "RuleCondition" in rule and not _truth(rule["RuleCondition"], values):
            continue
        for assertion in rule.get("Assertions", []):
            if not _truth(assertion["Assert"], values):
                description = assertion.get("AssertDescription", "assertion failed")
                problems.append(f"{rule_name}: {' '.join(str(description).split())}")
    return problems


def check_parameters(template: Template, overrides: Mapping[str, str]) -> list[str]:
    """Everything CloudFormation would refuse about these parameter values (empty: none)."""
    values = parameter_values(template, overrides)
    return constraint_problems(template, values) + rule_problems(template, values)


# ----------------------------------------------------------------------------- internals


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _number_problems(name: str, text: str, spec: Mapping[str, Any]) -> list[str]:
    try:
        number = float(text)
    except ValueError:
        return [f"{name}={text!r}: not a number"]
    problems = []
    if "MinValue" in spec and number < float(spec["MinValue"]):
        problems.append(f"{name}={text}: below {spec['MinValue']}")
    if "MaxValue" in spec and number > float(spec["MaxValue"]):
        problems.append(f"{name}={text}: above {spec['MaxValue']}")
    return problems


def _value(node: Any, values: Mapping[str, ParameterValue]) -> ParameterValue:
    if isinstance(node, dict) and set(node) == {"Ref"}:
        name = node["Ref"]
        if name not in values:
            raise TemplateError(f"a rule refers to {name}, which is not a parameter")
        return values[name]
    if isinstance(node, list):
        return [str(_value(item, values)) for item in node]
    if isinstance(node, str | int | float):
        return _text(node)
    raise TemplateError(f"unsupported value in a rule: {node!r}")


def _truth(node: Any, values: Mapping[str, ParameterValue]) -> bool:
    """A rule function's result (the functions CloudFormation allows in Rules)."""
    if not (isinstance(node, dict) and len(node) == 1):
        raise TemplateError(f"not a rule function: {node!r}")
    ((function, args),) = node.items()
    match function:
        case "Fn::And":
            return all(_truth(arg, values) for arg in args)
        case "Fn::Or":
            return any(_truth(arg, values) for arg in args)
        case "Fn::Not":
            return not _truth(args[0], values)
        case "Fn::Equals":
            return _value(args[0], values) == _value(args[1], values)
        case "Fn::Contains":
            return _value(args[1], values) in _as_list(_value(args[0], values))
        case "Fn::EachMemberEquals":
            return all(
                item == _value(args[1], values) for item in _as_list(_value(args[0], values))
            )
        case "Fn::EachMemberIn":
            allowed = _as_list(_value(args[1], values))
            return all(item in allowed for item in _as_list(_value(args[0], values)))
    raise TemplateError(f"rule function {function} is not supported here")


def _as_list(value: ParameterValue) -> list[str]:
    return value if isinstance(value, list) else [value]


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if any("=" not in arg for arg in args) or "-h" in args or "--help" in args:
        sys.stdout.write(__doc__ or "")
        return 2
    overrides = dict(arg.split("=", 1) for arg in args)
    try:
        problems = check_parameters(load_template(), overrides)
    except TemplateError as error:
        problems = [str(error)]
    for problem in problems:
        sys.stderr.write(f"refused: {problem}\n")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
