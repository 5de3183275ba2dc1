"""The deploy environments of samconfig.toml, for infra/deploy.sh and the tests.

Each ``[<env>.deploy.parameters]`` section is one environment's configuration. ``sam deploy
--parameter-overrides`` replaces the section's ``parameter_overrides`` instead of adding to it,
so deploy.sh passes the merged list this module prints (the section's, then what the caller
adds; a later value wins)::

    python -m infra.samconfig overrides staging ModelHostImageTag=ctx-0123  # NAME=value lines
    python -m infra.samconfig stack-name staging
"""

from __future__ import annotations

import sys
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from infra.template import REPO_ROOT

SAMCONFIG = REPO_ROOT / "samconfig.toml"


class UnknownEnvironment(LookupError):
    pass


def load(path: Path = SAMCONFIG) -> dict[str, Any]:
    with path.open("rb") as file:
        return tomllib.load(file)


def environments(config: dict[str, Any]) -> list[str]:
    """The environments that can be deployed (a `deploy.parameters` section each)."""
    return sorted(
        name
        for name, section in config.items()
        if isinstance(section, dict) and "parameters" in section.get("deploy", {})
    )


def deploy_parameters(config: dict[str, Any], env: str) -> dict[str, Any]:
    if env not in environments(config):
        known = ", ".join(environments(config))
        raise UnknownEnvironment(f"no deploy environment {env!r} in samconfig.toml ({known})")
    parameters: dict[str, Any] = config[env]["deploy"]["parameters"]
    return parameters


def overrides(config: dict[str, Any], env: str, extra: Sequence[str] = ()) -> dict[str, str]:
    """The environment's parameter values, then ``extra`` NAME=value pairs (a later one wins)."""
    listed = deploy_parameters(config, env).get("parameter_overrides", [])
    pairs = listed.split() if isinstance(listed, str) else list(listed)
    merged: dict[str, str] = {}
    for pair in [*pairs, *extra]:
        name, sep, value = pair.partition("=")
        if not sep:
            raise ValueError(f"not NAME=value: {pair!r}")
        merged[name] = value
    return merged


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) < 2 or args[0] not in ("overrides", "stack-name"):
        sys.stderr.write(__doc__ or "")
        return 2
    command, env, *extra = args
    try:
        config = load()
        if command == "stack-name":
            print(deploy_parameters(config, env)["stack_name"])
        else:
            for name, value in overrides(config, env, extra).items():
                print(f"{name}={value}")
    except (UnknownEnvironment, ValueError) as error:
        sys.stderr.write(f"{error}\n")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
