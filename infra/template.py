"""The one reader of ``template.yaml``.

Tests, the local stack (:mod:`infra.bootstrap`) and the OpenAPI check (:mod:`infra.openapi`) take
names, keys, batch sizes and timeouts from here instead of repeating them.

The YAML loader understands CloudFormation short tags (``!Ref``, ``!GetAtt``, ``!Sub`` ...) and
maps them to their long form (``{"Ref": ...}``, ``{"Fn::GetAtt": [...]}``, ``{"Fn::Sub": ...}``).
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_PATH = REPO_ROOT / "template.yaml"

# Short tag -> long-form key. ``!Ref`` and ``!Condition`` are not ``Fn::`` functions.
_SHORT_TAGS: dict[str, str] = {
    "Ref": "Ref",
    "Condition": "Condition",
    **{
        name: f"Fn::{name}"
        for name in (
            "And",
            "Base64",
            "Cidr",
            "Equals",
            "FindInMap",
            "GetAtt",
            "GetAZs",
            "If",
            "ImportValue",
            "Join",
            "Length",
            "Not",
            "Or",
            "Select",
            "Split",
            "Sub",
            "ToJsonString",
            "Transform",
            # Rule functions (the Rules section only)
            "Contains",
            "EachMemberEquals",
            "EachMemberIn",
            "RefAll",
            "ValueOf",
            "ValueOfAll",
        )
    },
}


class TemplateError(LookupError):
    """The template lacks something a caller asked for, or has an unexpected shape."""


class CfnLoader(yaml.SafeLoader):
    """SafeLoader + CloudFormation short tags; dates stay strings (``Version: 2012-10-17``)."""


def _construct_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    key = _SHORT_TAGS.get(suffix)
    if key is None:
        raise yaml.constructor.ConstructorError(
            None, None, f"unknown CloudFormation tag !{suffix}", node.start_mark
        )
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if key == "Fn::GetAtt":  # !GetAtt Resource.Attribute[.More] -> [Resource, "Attribute"]
            resource, _, attribute = str(value).partition(".")
            value = [resource, attribute]
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:  # pragma: no cover - yaml has no other node kinds
        raise yaml.constructor.ConstructorError(None, None, "bad node", node.start_mark)
    return {key: value}


CfnLoader.add_multi_constructor("!", _construct_tag)
# Drop the YAML 1.1 timestamp resolver: CloudFormation treats 2012-10-17 as a string.
CfnLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def parse_template(text: str) -> dict[str, Any]:
    """Parse CloudFormation YAML (short tags allowed) into long-form plain data."""
    data = yaml.load(text, Loader=CfnLoader)  # noqa: S506 - CfnLoader is a SafeLoader
    if not isinstance(data, dict):
        raise TemplateError("template is not a mapping")
    return data


# ------------------------------------------------------------------------------------ specs


@dataclass(frozen=True)
class LayerSpec:
    logical_id: str
    content_uri: Path  # absolute source directory
    compatible_runtimes: tuple[str, ...]
    build_method: str | None


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    code_uri: Path  # absolute source directory
    handler: str
    runtime: str
    architectures: tuple[str, ...]
    timeout: int
    memory_size: int
    environment: Mapping[str, Any]
    """Globals merged with the function's own variables. Refs to parameters are resolved to
    their defaults (as strings, like Lambda sees them); Refs to resources, and to parameters
    without a default, stay ``{"Ref": ...}``."""
    layers: tuple[LayerSpec, ...]

    @property
    def handler_module(self) -> str:
        return self.handler.rpartition(".")[0]

    @property
    def handler_function(self) -> str:
        return self.handler.rpartition(".")[2]

    @property
    def import_paths(self) -> tuple[Path, ...]:
        """Source directories in Lambda import order: function code, then each layer."""
        return (self.code_uri, *(layer.content_uri for layer in self.layers))


@dataclass(frozen=True)
class SqsEventSpec:
    event_name: str
    queue_logical_id: str
    batch_size: int
    maximum_concurrency: int | None
    report_batch_item_failures: bool
    maximum_batching_window_seconds: int


@dataclass(frozen=True)
class ScheduleSpec:
    event_name: str
    expression: str  # e.g. "rate(5 minutes)"

    @property
    def rate_seconds(self) -> int:
        """The period of a ``rate(...)`` expression (cron expressions have none)."""
        match = re.fullmatch(r"rate\((\d+) (minute|hour|day)s?\)", self.expression)
        if match is None:
            raise TemplateError(f"not a rate expression: {self.expression!r}")
        unit = {"minute": 60, "hour": 3600, "day": 86400}[match.group(2)]
        return int(match.group(1)) * unit


@dataclass(frozen=True)
class QueueSpec:
    logical_id: str
    visibility_timeout: int
    message_retention: int | None
    max_receive_count: int | None
    dead_letter_queue_logical_id: str | None


@dataclass(frozen=True)
class TableSpec:
    logical_id: str
    key_schema: tuple[Mapping[str, str], ...]
    attribute_definitions: tuple[Mapping[str, str], ...]
    billing_mode: str
    global_secondary_indexes: tuple[Mapping[str, Any], ...] = ()
    ttl_attribute: str | None = None

    @property
    def hash_key(self) -> str:
        return next(k["AttributeName"] for k in self.key_schema if k["KeyType"] == "HASH")


_NO_VALUE = {"Ref": "AWS::NoValue"}

# Defaults CloudFormation/SAM apply when a property is absent.
_DEFAULT_FUNCTION_TIMEOUT = 3
_DEFAULT_FUNCTION_MEMORY = 128
_DEFAULT_QUEUE_VISIBILITY = 30


@dataclass(frozen=True, eq=False)
class Template:
    path: Path
    raw: dict[str, Any]

    # ---------------------------------------------------------------- generic accessors
    @property
    def parameters(self) -> dict[str, dict[str, Any]]:
        return copy.deepcopy(self.raw.get("Parameters", {}))

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        return copy.deepcopy(self.raw.get("Resources", {}))

    @property
    def outputs(self) -> dict[str, dict[str, Any]]:
        return copy.deepcopy(self.raw.get("Outputs", {}))

    def parameter_default(self, name: str) -> Any:
        try:
            parameter = self.raw["Parameters"][name]
        except KeyError:
            raise TemplateError(f"no parameter {name!r}") from None
        if "Default" not in parameter:
            raise TemplateError(f"parameter {name!r} has no default")
        return parameter["Default"]

    def resource_type(self, logical_id: str) -> str:
        return str(self._resource_raw(logical_id)["Type"])

    def logical_ids(self, resource_type: str) -> list[str]:
        """Logical ids of every resource of ``resource_type``, in template order."""
        return [
            lid
            for lid, res in self.raw.get("Resources", {}).items()
            if res.get("Type") == resource_type
        ]

    def resource(self, logical_id: str) -> dict[str, Any]:
        """The resource's Properties; Refs to parameters with defaults resolved."""
        props = self._resource_raw(logical_id).get("Properties", {})
        return dict(self.resolve_parameters(props))

    def globals_function(self) -> dict[str, Any]:
        return dict(self.resolve_parameters(self.raw.get("Globals", {}).get("Function", {})))

    def resolve_parameters(self, value: Any) -> Any:
        """Deep copy of ``value`` as deployed with the parameter defaults: ``{"Ref": <parameter
        with a default>}`` -> the default; ``Fn::If`` on a condition decidable from defaults ->
        its branch (``AWS::NoValue`` drops the key or item); ``Fn::FindInMap`` with decidable
        keys -> the mapped value. Anything else (Refs to resources, ``Fn::Sub`` ...) is kept."""
        if isinstance(value, dict):
            if set(value) == {"Ref"} and self._has_default(value["Ref"]):
                return copy.deepcopy(self.raw["Parameters"][value["Ref"]]["Default"])
            if set(value) == {"Fn::If"}:
                condition, when_true, when_false = value["Fn::If"]
                decided = self._condition(condition)
                if decided is not None:
                    return self.resolve_parameters(when_true if decided else when_false)
            if set(value) == {"Fn::FindInMap"}:
                name, *keys = (self.resolve_parameters(v) for v in value["Fn::FindInMap"])
                if all(isinstance(k, str | int) for k in (name, *keys)):
                    entry: Any = self.raw.get("Mappings", {})[name]
                    for key in keys:
                        entry = entry[str(key)]
                    return copy.deepcopy(entry)
            resolved = {k: self.resolve_parameters(v) for k, v in value.items()}
            return {k: v for k, v in resolved.items() if v != _NO_VALUE}
        if isinstance(value, list):
            items = [self.resolve_parameters(v) for v in value]
            return [v for v in items if v != _NO_VALUE]
        return value

    def _condition(self, name: str) -> bool | None:
        """A named condition's value under the parameter defaults (None: not decidable)."""
        return self._truth(self.raw.get("Conditions", {}).get(name))

    def _truth(self, node: Any) -> bool | None:
        if not (isinstance(node, dict) and len(node) == 1):
            return None
        ((function, args),) = node.items()
        if function == "Condition":
            return self._condition(args)
        if function in ("Fn::And", "Fn::Or", "Fn::Not"):
            values = [self._truth(arg) for arg in args]
            if None in values:
                return None
            if function == "Fn::Not":
                return not values[0]
            return all(values) if function == "Fn::And" else any(values)
        if function == "Fn::Equals":
            left, right = (self._scalar(arg) for arg in args)
            return None if left is None or right is None else left == right
        return None

    def _scalar(self, node: Any) -> str | None:
        """A string value decidable from the parameter defaults (Refs, Fn::Join), else None."""
        value = self.resolve_parameters(node)
        if isinstance(value, dict) and set(value) == {"Fn::Join"}:
            delimiter, items = value["Fn::Join"]
            if isinstance(items, str):  # a CommaDelimitedList default, as written
                items = items.split(",")
            parts = [self._scalar(item) for item in items]
            return None if None in parts else str(delimiter).join(str(p) for p in parts)
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            return str(value)
        return None

    def env_var_referencing(self, logical_id: str) -> str:
        """The environment variable whose value is ``!Ref <logical_id>``: in Globals, or else
        in a function's own Environment."""
        sources = [self.raw.get("Globals", {}).get("Function", {})] + [
            res.get("Properties", {})
            for res in self.raw.get("Resources", {}).values()
            if res.get("Type") == "AWS::Serverless::Function"
        ]
        for source in sources:
            for name, value in source.get("Environment", {}).get("Variables", {}).items():
                if value == {"Ref": logical_id}:
                    return str(name)
        raise TemplateError(f"no function environment variable references {logical_id!r}")

    # --------------------------------------------------------------------- typed views
    def function(self, logical_id: str) -> FunctionSpec:
        self._expect_type(logical_id, "AWS::Serverless::Function")
        merged = {**self.globals_function(), **self.resource(logical_id)}
        env: dict[str, Any] = {}
        for source in (self.globals_function(), self.resource(logical_id)):
            env.update(source.get("Environment", {}).get("Variables", {}))
        environment = {k: v if isinstance(v, dict) else _env_str(v) for k, v in env.items()}
        # SAM adds a function's own layers after the global ones (lists are additive).
        refs = [
            *self.globals_function().get("Layers", []),
            *self.resource(logical_id).get("Layers", []),
        ]
        layers = tuple(self.layer(ref_target(ref)) for ref in refs)
        return FunctionSpec(
            logical_id=logical_id,
            code_uri=self._local_path(merged["CodeUri"]),
            handler=str(merged["Handler"]),
            runtime=str(merged["Runtime"]),
            architectures=tuple(merged.get("Architectures", ["x86_64"])),
            timeout=int(merged.get("Timeout", _DEFAULT_FUNCTION_TIMEOUT)),
            memory_size=int(merged.get("MemorySize", _DEFAULT_FUNCTION_MEMORY)),
            environment=environment,
            layers=layers,
        )

    def layer(self, logical_id: str) -> LayerSpec:
        self._expect_type(logical_id, "AWS::Serverless::LayerVersion")
        props = self.resource(logical_id)
        metadata = self._resource_raw(logical_id).get("Metadata", {})
        return LayerSpec(
            logical_id=logical_id,
            content_uri=self._local_path(props["ContentUri"]),
            compatible_runtimes=tuple(props.get("CompatibleRuntimes", [])),
            build_method=metadata.get("BuildMethod"),
        )

    def sqs_event(self, function_logical_id: str) -> SqsEventSpec:
        events = self.resource(function_logical_id).get("Events", {})
        matches = [(name, ev) for name, ev in events.items() if ev.get("Type") == "SQS"]
        if len(matches) != 1:
            raise TemplateError(
                f"{function_logical_id} has {len(matches)} SQS events, expected exactly one"
            )
        name, event = matches[0]
        props = event["Properties"]
        scaling = props.get("ScalingConfig", {})
        return SqsEventSpec(
            event_name=name,
            queue_logical_id=ref_target(props["Queue"]),
            batch_size=int(props.get("BatchSize", 10)),
            maximum_concurrency=(
                int(scaling["MaximumConcurrency"]) if "MaximumConcurrency" in scaling else None
            ),
            report_batch_item_failures="ReportBatchItemFailures"
            in props.get("FunctionResponseTypes", []),
            maximum_batching_window_seconds=int(props.get("MaximumBatchingWindowInSeconds", 0)),
        )

    def schedule_event(self, function_logical_id: str) -> ScheduleSpec:
        events = self.resource(function_logical_id).get("Events", {})
        matches = [(name, ev) for name, ev in events.items() if ev.get("Type") == "Schedule"]
        if len(matches) != 1:
            raise TemplateError(
                f"{function_logical_id} has {len(matches)} Schedule events, expected exactly one"
            )
        name, event = matches[0]
        return ScheduleSpec(event_name=name, expression=str(event["Properties"]["Schedule"]))

    def queue(self, logical_id: str) -> QueueSpec:
        self._expect_type(logical_id, "AWS::SQS::Queue")
        props = self.resource(logical_id)
        redrive = props.get("RedrivePolicy")
        retention = props.get("MessageRetentionPeriod")
        return QueueSpec(
            logical_id=logical_id,
            visibility_timeout=int(props.get("VisibilityTimeout", _DEFAULT_QUEUE_VISIBILITY)),
            message_retention=int(retention) if retention is not None else None,
            max_receive_count=int(redrive["maxReceiveCount"]) if redrive else None,
            dead_letter_queue_logical_id=(
                ref_target(redrive["deadLetterTargetArn"]) if redrive else None
            ),
        )

    def table(self, logical_id: str) -> TableSpec:
        self._expect_type(logical_id, "AWS::DynamoDB::Table")
        props = self.resource(logical_id)
        ttl = props.get("TimeToLiveSpecification", {})
        return TableSpec(
            logical_id=logical_id,
            key_schema=tuple(props["KeySchema"]),
            attribute_definitions=tuple(props["AttributeDefinitions"]),
            billing_mode=str(props.get("BillingMode", "PROVISIONED")),
            global_secondary_indexes=tuple(props.get("GlobalSecondaryIndexes", [])),
            ttl_attribute=ttl.get("AttributeName") if ttl.get("Enabled") else None,
        )

    def openapi_spec(self, api_logical_id: str = "DocumentsApi") -> dict[str, Any]:
        """The API's inline ``DefinitionBody`` (long-form intrinsics, parameters unresolved)."""
        props = self._resource_raw(api_logical_id).get("Properties", {})
        if "DefinitionBody" not in props:
            raise TemplateError(f"{api_logical_id} has no inline DefinitionBody")
        body: dict[str, Any] = copy.deepcopy(props["DefinitionBody"])
        return body

    # ------------------------------------------------------------------------ helpers
    def _resource_raw(self, logical_id: str) -> dict[str, Any]:
        try:
            resource: dict[str, Any] = self.raw["Resources"][logical_id]
        except KeyError:
            raise TemplateError(f"no resource {logical_id!r}") from None
        return resource

    def _expect_type(self, logical_id: str, resource_type: str) -> None:
        actual = self.resource_type(logical_id)
        if actual != resource_type:
            raise TemplateError(f"{logical_id} is {actual}, not {resource_type}")

    def _has_default(self, name: object) -> bool:
        params = self.raw.get("Parameters", {})
        return isinstance(name, str) and name in params and "Default" in params[name]

    def _local_path(self, uri: object) -> Path:
        if not isinstance(uri, str):
            raise TemplateError(f"expected a local source path, got {uri!r}")
        return (self.path.parent / uri).resolve()


def ref_target(value: object) -> str:
    """Logical id from ``{"Ref": X}`` or ``{"Fn::GetAtt": [X, attr]}``."""
    if isinstance(value, dict):
        if "Ref" in value:
            return str(value["Ref"])
        if "Fn::GetAtt" in value:
            return str(value["Fn::GetAtt"][0])
    raise TemplateError(f"expected a Ref or GetAtt, got {value!r}")


def _env_str(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@functools.lru_cache(maxsize=8)
def _load_cached(path: Path, mtime_ns: int) -> Template:
    return Template(path=path, raw=parse_template(path.read_text(encoding="utf-8")))


def load_template(path: Path = TEMPLATE_PATH) -> Template:
    """Parse ``template.yaml`` (cached until the file changes)."""
    resolved = Path(path).resolve()
    return _load_cached(resolved, resolved.stat().st_mtime_ns)
