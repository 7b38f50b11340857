"""The KPI report: the indicators of a council's children's services plans that a decision log
supports.

```python
from triage.report import kpi_report, render_table, to_html, to_json

report = kpi_report("sqlite:///decisions.sqlite", population=330_000, start=date(2026, 4, 1))
print(render_table(report))                 # a terminal table
Path("kpi.html").write_text(to_html(report))  # one self-contained page with SVG charts
```

Every figure carries its written definition, and every output shows it. What the figures are
called, say and group is the council's data: the `report:` section of the rulebook (for example
`rules/kent/report.yaml`), read from the rulebook snapshot in the log. The report reads the
records as they are stored (run `triage verify` first when the log's integrity matters); it
counts pseudonymised ids, so it never needs the key. What a decision log cannot support, and
why, is in docs/report.md.

Modules: `figures` (computation), `overrides` (the managers' override rates), `_reading`
(one scan of the log), `text` (table and JSON), `html` with `templates/` (the page), `_svg`
(the charts).
"""

from triage.report.figures import (
    AGENCY_GROUPS,
    BACKFILL_DAYS,
    NEEDS_POPULATION,
    NOT_MEASURABLE,
    kpi_report,
)
from triage.report.html import to_html
from triage.report.model import Figure, KpiReport, Row
from triage.report.text import render_table, to_dict, to_json

__all__ = [
    "AGENCY_GROUPS",
    "BACKFILL_DAYS",
    "NEEDS_POPULATION",
    "NOT_MEASURABLE",
    "Figure",
    "KpiReport",
    "Row",
    "kpi_report",
    "render_table",
    "to_dict",
    "to_html",
    "to_json",
]
