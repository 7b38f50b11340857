"""`triage serve`: the library as an HTTP service (FastAPI on uvicorn). See docs/serve.md.

Needs the `serve` extra: `pip install 'triage[serve]'`.
"""

from triage.serve.app import create_app, factory, run
from triage.serve.settings import Role, Settings, hash_token

__all__ = ["Role", "Settings", "create_app", "factory", "hash_token", "run"]
