"""`python -m triage.cli`, as the Makefile's `schemas` target runs it."""

from triage.cli import main

main()
