"""A threshold what-if: what would change if level 3 needed four additional needs, not three?

Kent's rulebook adds up needs: three or more distinct level-2 (Additional) needs across two or
more domains make level 3 (Intensive), the complex or multiple needs that the Front Door takes
(`accumulated_level_2_needs`, CHOICE 1 in docs/rules-authoring.md). A council reviewing that
choice asks what a stricter threshold would do to last year's referrals before changing it.

This script:

1. routes about 200 synthetic referrals (`triage.simulate`, calibrated to national
   figures) with the bundled Kent rulebook into a decision log (SQLite, temporary directory);
2. copies the Kent rulebook (`rules/kent`) to the temporary directory and changes one threshold
   in the copy: the level-2 accumulation minimum, 3 -> 4 (and the version, to tell them apart);
3. re-decides every logged referral under the revised copy with
   `triage.audit.replay_log(..., against=...)` and prints the summary: children whose level or
   route would change, how many would cross the Front Door threshold, the level and route
   transition matrices, and each changed child.

The bundled rulebook is not touched. Ids in the log are pseudonymised under `TRIAGE_LOG_KEY` (a
synthetic default when unset); everything is written to a temporary directory, removed at the
end.

Run: `.venv/bin/python examples/threshold_what_if.py`
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

import structlog

from triage import FrontDoor, bundled_rules_dir, simulate
from triage.audit import KEY_VARIABLE, DecisionLog, replay_log
from triage.audit.replay import render_replay

# Synthetic, for this example only; a real key lives apart from the log.
EXAMPLE_KEY = "synthetic-example-pseudonymisation-key"
REFERRALS = 200
SEED = 18
RULE_ID = "accumulated_level_2_needs"
OLD_CONDITION = "concerns: {level: 2, min: 3}"
NEW_CONDITION = "concerns: {level: 2, min: 4}"


def build_log(target: str, key: str) -> int:
    """Route the synthetic referrals with the bundled rulebook; return how many were logged."""
    door = FrontDoor()
    referrals = list(simulate(REFERRALS, seed=SEED))
    with DecisionLog(target, key=key) as log:
        log.route_batch(door, referrals)
    return len(referrals)


def revise(rules: Path) -> None:
    """In a copy of the Kent rulebook: four level-2 needs for level 3 instead of three."""
    path = rules / "rules.yaml"
    text = path.read_text(encoding="utf-8")
    start = text.index(f"- id: {RULE_ID}\n")
    end = text.index("- id: ", start + 1)
    block = text[start:end]
    if block.count(OLD_CONDITION) != 1:
        raise SystemExit(f"rule {RULE_ID} no longer has exactly one {OLD_CONDITION!r}")
    block = block.replace(OLD_CONDITION, NEW_CONDITION).replace(
        "title: Three or more additional", "title: Four or more additional"
    )
    path.write_text(text[:start] + block + text[end:], encoding="utf-8")

    book = rules / "rulebook.yaml"
    text = book.read_text(encoding="utf-8")
    book.write_text(
        text.replace('version: "', 'version: "what-if-level-2-min-4+', 1), encoding="utf-8"
    )


def main() -> int:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    key = os.environ.get(KEY_VARIABLE) or EXAMPLE_KEY
    with tempfile.TemporaryDirectory(prefix="triage-what-if-") as folder:
        target = f"sqlite:///{Path(folder) / 'decisions.sqlite'}"
        logged = build_log(target, key)
        print(f"routed {logged} synthetic referrals (seed {SEED}) into {target}")

        revised = Path(folder) / "kent-revised"
        shutil.copytree(bundled_rules_dir(), revised)
        revise(revised)
        print(
            f"revised copy of {bundled_rules_dir()} in {revised}: rule {RULE_ID}, "
            f"{OLD_CONDITION!r} -> {NEW_CONDITION!r}"
        )
        print()

        report = replay_log(target, against=revised)
        print(render_replay(report))
        print()
        print(
            f"raising the level-2 accumulation minimum from 3 to 4 changes "
            f"{report.different} of {report.decisions} decisions; "
            f"{report.crossing_down()} child(ren) would drop below the Front Door threshold "
            f"(level 3-4 -> 1-2) and {report.crossing_up()} would rise above it"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
