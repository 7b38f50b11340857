"""Synthetic referrals (`simulate`) and the journey events that follow them
(`simulate_journeys`), deterministic for a seed; see docs/simulation.md."""

from triage.simulation.journeys import simulate_journeys
from triage.simulation.referrals import simulate

__all__ = ["simulate", "simulate_journeys"]
