"""The library's loggers: silent unless the host configured logging.

Unconfigured structlog prints every event to stdout, in the middle of a host's own output (its
JSON, its CSV). So each logger asks, whenever it is used, whether structlog has been configured
(by the host, by the command line, or by `structlog.testing.capture_logs`): if so, its events go
where that configuration says; if not, they go to the standard library's `logging` logger of
the same name. The `triage` logger there has only a `NullHandler`, the library convention: it
writes nothing until the host configures `logging` (`logging.basicConfig()` shows warnings and
errors on stderr; at INFO, every decision's ids and outcomes).

Nothing is cached from one use to the next, so a configuration changed between two referrals
is obeyed (each logger keeps only structlog's lazy proxy, which reads the configuration anew).
"""

from __future__ import annotations

import logging
from typing import Any

import structlog
from structlog.typing import EventDict

# The library's own stdlib logger: a NullHandler keeps logging's last-resort handler (which
# prints warnings to stderr) away while the host has configured nothing.
logging.getLogger("triage").addHandler(logging.NullHandler())


def add_log_level(logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
    """The event's log level as `log_level` (as `structlog.testing.capture_logs` names it):
    structlog's own `add_log_level` writes `level`, which would overwrite a decision's level."""
    event_dict["log_level"] = "warning" if method_name == "warn" else method_name
    return event_dict


# The level test first: an event below the stdlib logger's level costs no rendering.
_TO_STDLIB: list[Any] = [
    structlog.stdlib.filter_by_level,
    add_log_level,
    structlog.processors.JSONRenderer(),
]


class LibraryLogger:
    """A logger of the library, by name (`triage`, `triage.audit`)."""

    def __init__(self, name: str) -> None:
        self.name = name
        # What `structlog.get_logger(name)` returns, kept: its `bind` reads the configuration
        # in force at every call. Never caching, as a fresh proxy per call never did (a host's
        # `cache_logger_on_first_use` would otherwise freeze the first configuration here).
        self._configured = structlog.wrap_logger(
            None, logger_factory_args=(name,), cache_logger_on_first_use=False
        )

    # structlog types its bound loggers as Any (they are built from the configuration).
    def bind(self, **values: Any) -> Any:
        """A bound logger for the configuration in force now."""
        if structlog.is_configured():
            return self._configured.bind(**values)
        return structlog.wrap_logger(
            logging.getLogger(self.name),
            processors=_TO_STDLIB,
            wrapper_class=structlog.stdlib.BoundLogger,
        ).bind(**values)

    def info(self, event: str, **values: Any) -> None:
        self.bind().info(event, **values)

    def warning(self, event: str, **values: Any) -> None:
        self.bind().warning(event, **values)

    def error(self, event: str, **values: Any) -> None:
        self.bind().error(event, **values)


def get_logger(name: str) -> LibraryLogger:
    return LibraryLogger(name)
