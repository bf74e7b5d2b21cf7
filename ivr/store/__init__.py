"""Compatibility shim: the store now lives in the top-level package `carestore`.

It moved below `ivr` so that `emergency_contact` (which may not import `ivr`) can share it.
`ivr.store` and its submodules (`ivr.store.db`, `ivr.store.migrate`, `ivr.store.seed`, ...) stay
importable and are the very same module objects as `carestore.*`. `ivr.store.backend` (the
dialog's backend on the store) stays here, because it depends on `ivr.dialog`.
"""

import importlib
import sys

from carestore import *  # noqa: F403
from carestore import __all__  # noqa: F401

_MOVED = (
    "calls",
    "customers",
    "db",
    "engine",
    "errors",
    "migrate",
    "migrations",
    "models",
    "phone",
    "pins",
    "records",
    "reference",
    "seed",
    "tickets",
    "timeutil",
    "values",
)
for _name in _MOVED:
    _module = importlib.import_module(f"carestore.{_name}")
    sys.modules[f"{__name__}.{_name}"] = _module
    globals()[_name] = _module
del _name, _module
