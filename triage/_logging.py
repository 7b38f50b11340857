"""The library's structlog loggers, assembled once per configuration instead of once per event.

`structlog.get_logger()` gives a lazy proxy that assembles a new bound logger (wrapper, context,
logger from the factory) on every event unless the application chose
`cache_logger_on_first_use`: about 5 us an event, paid once per child routed. The library never
configures structlog (the application does), so it cannot choose that option. Instead a
`Logger` keeps the logger the proxy assembled together with the configuration it was assembled
from (`structlog.get_config()`, public API), and assembles a new one as soon as any part of the
configuration is a different object: an application that calls `structlog.configure` again, or
a test in `structlog.testing.capture_logs`, is obeyed from its next event on.
"""

from __future__ import annotations

from typing import Any

import structlog


class Logger:
    """A named structlog logger: `Logger("triage").get().info("event", key=value)`."""

    def __init__(self, name: str) -> None:
        self._proxy = structlog.get_logger(name)
        # The configuration values the bound logger was made from (held, so that their ids
        # cannot be reused by new objects), and the bound logger.
        self._made: tuple[tuple[Any, ...], Any] | None = None

    def get(self) -> Any:
        """The bound logger for the current configuration (call once per unit of work)."""
        config = tuple(structlog.get_config().values())
        made = self._made  # one read: a thread sees a consistent pair
        if made is not None and all(a is b for a, b in zip(made[0], config, strict=True)):
            return made[1]
        bound = self._proxy.bind()
        self._made = (config, bound)
        return bound
