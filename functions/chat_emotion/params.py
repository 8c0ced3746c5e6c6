"""main.py's parameters as a serving instance reads them, without the SDK's params module.

`firebase_functions.params` declares each parameter for deploy discovery (firebase-tools reads the
declarations, asks for values and deploys them as environment variables) and, at run time, reads
them back from the environment. Importing it costs a cold instance ~20 ms (dozens of generic frozen
dataclasses, docs/PERFORMANCE.md "Cold start"). An instance serving the trigger only reads values,
so main.py gives it these twins: the same constructor and the same `.value` (the environment
variable when it is set, else the default). tests/function/test_params.py holds every parameter of
main.py equal to the SDK's reading, set and unset.
"""

from __future__ import annotations

import os

__all__ = ["IntParam", "StringParam"]


class _Param:
    """`$NAME` parsed, else `default`, else the type's empty value (the SDK's order)."""

    _empty: object = None

    def __init__(self, name: str, *, default=None, description: str = "") -> None:
        self.name = name
        self.default = default
        self.description = description

    @staticmethod
    def _parse(raw: str):
        return raw

    @property
    def value(self):
        raw = os.environ.get(self.name)
        if raw is not None:
            return self._parse(raw)
        return self._empty if self.default is None else self.default


class StringParam(_Param):
    """A string parameter: `$NAME`, else `default`, else ""."""

    _empty = ""


class IntParam(_Param):
    """An integer parameter: `int($NAME)`, else `default`, else 0."""

    _empty = 0
    _parse = staticmethod(int)
