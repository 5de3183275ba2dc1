"""Clients made on first use instead of at import.

A Lambda cold start runs the handler's import before the first request; making the boto3
clients there (botocore's endpoint and service data, ~0.1 s) and importing the `ollama` client
would put that in front of every scale-out, even when the first request needs none of it. What
`on_first_use` returns stands in for such a client: it is made when first used, then reused by
every warm invocation.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Any, ClassVar, cast


def on_first_use[T](make: Callable[[], T]) -> T:
    """A stand-in for the object `make` returns, made on the first attribute access, then
    kept; adapters use it as they would the object itself (attribute access is all they do)."""
    return cast(T, _OnFirstUse(make))


class _OnFirstUse:
    _instances: ClassVar[weakref.WeakSet[_OnFirstUse]] = weakref.WeakSet()
    # boto3's default session is not thread-safe, and a long document's parallel chunk calls
    # may be the first users: one object is made at a time (reentrant: a Table makes its
    # resource).
    _making: ClassVar[threading.RLock] = threading.RLock()

    def __init__(self, make: Callable[[], Any]) -> None:
        object.__setattr__(self, "_make", make)
        _OnFirstUse._instances.add(self)

    def _made(self) -> Any:
        made = vars(self)
        if "target" not in made:
            with self._making:
                if "target" not in made:
                    made["target"] = self._make()
        return made["target"]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._made(), name)  # only names the stand-in itself lacks come here

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._made(), name, value)  # a test swapping a client's transport or method


def make_all_now() -> int:
    """Makes every object still waiting for its first use: what a first invocation pays (the
    cold-start bench measures it), or what a SnapStart before-snapshot hook would pre-pay.
    Returns how many were made."""
    waiting = [lazy for lazy in list(_OnFirstUse._instances) if "target" not in vars(lazy)]
    for lazy in waiting:
        lazy._made()
    return len(waiting)
