"""What this installation of triage is: its distribution and version, and the engine it runs by
default.

The package index's `triage` is another project, so this one is distributed as
`frontdoor-triage`; the import name stays `triage`. durable-rules 2.0.28, its last release, does
not import on Python 3.13 and later, where the package does not install it (an environment
marker): there the reference evaluator, the same rules in pure Python, is the default engine,
and the durable engine is refused by name.
"""

from __future__ import annotations

import functools
import platform
from importlib import metadata
from typing import Literal

from triage._logging import get_logger

DISTRIBUTION = "frontdoor-triage"

try:
    VERSION = metadata.version(DISTRIBUTION)
except metadata.PackageNotFoundError:  # pragma: no cover - running from an unbuilt tree
    VERSION = "0+unknown"


@functools.cache
def durable_missing() -> str | None:
    """Why the durable engine cannot run in this interpreter, or None where it can."""
    try:
        import triage._durable  # noqa: F401  (importing it imports durable_rules)
    except ImportError as error:
        return (
            f"durable_rules does not import on Python {platform.python_version()} "
            f"({type(error).__name__}: {error})"
        )
    return None


@functools.cache
def default_engine() -> Literal["durable", "reference"]:
    """`durable` where durable_rules imports, else `reference`, said once per process."""
    reason = durable_missing()
    if reason is None:
        return "durable"
    get_logger("triage").warning("engine_fallback", engine="reference", reason=reason)
    return "reference"
