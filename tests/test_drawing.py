"""Pictures of the pathway: each view shows what its question needs, kinds are drawn by style
and explained in a legend, the svg fits its viewBox and its window, and a journey is drawn as
the path it took."""

from __future__ import annotations

import re
import shutil
import stat
import struct
import subprocess
import tempfile
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from xml.etree import ElementTree

import pytest

from triage import GraphvizMissing, PathwayGraph, load_pathway
from triage.errors import UsageError
from triage.pathway import drawing

NEEDS_DOT = pytest.mark.skipif(
    shutil.which("dot") is None,
    reason="Graphviz `dot` is not installed (apt-get install graphviz; CI installs it)",
)
CHROMIUM = shutil.which("chromium")
NEEDS_CHROMIUM = pytest.mark.skipif(CHROMIUM is None, reason="no chromium to look with")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
HIGHLIGHT_COLOUR = "#ef6c00"
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(name="pathway", scope="module")
def fixture_pathway() -> PathwayGraph:
    return load_pathway()


def dot_lines(dot: str) -> dict[tuple[str, str], str]:
    """The dot statement of each drawn arrow, by its ends."""
    found = re.findall(r'^  "([a-z0-9_]+)" -> "([a-z0-9_]+)" \[(.*)\];$', dot, re.M)
    return {(a, b): attrs for a, b, attrs in found}


def dot_nodes(dot: str) -> set[str]:
    return set(re.findall(r'^    "([a-z0-9_]+)" \[', dot, re.M))


# --- The whole pathway ------------------------------------------------------------------------


def test_whole_view_draws_every_edge_by_kind_without_a_label(pathway: PathwayGraph) -> None:
    """Kinds are an SVG class and a style, not 91 labels; the tooltip keeps the reference."""
    arrows = dot_lines(drawing.to_dot(pathway))

    for edge in pathway.edges:
        attrs = arrows[(edge.source, edge.target)]
        assert f'class="{edge.kind.value}"' in attrs
        assert "label=" not in attrs
        assert edge.reference in attrs
    forbidden = arrows[("camhs_inpatient", "adult_psychiatric_ward")]
    assert 'class="forbidden"' in forbidden
    assert 'arrowhead="tee"' in forbidden
    assert len(arrows) == len(pathway.edges) + len(pathway.forbidden)


def test_step_ups_and_step_downs_differ_by_line_style_as_well_as_colour(
    pathway: PathwayGraph,
) -> None:
    arrows = dot_lines(drawing.to_dot(pathway))
    up = arrows[("universal_services", "single_agency_support")]
    down = arrows[("single_agency_support", "universal_services")]

    assert 'style="dashed"' in down
    assert "style=" not in up
    assert re.search(r'color="(#\w+)"', up) != re.search(r'color="(#\w+)"', down)


def test_levels_are_stacked_rows_in_level_order(pathway: PathwayGraph) -> None:
    """Each level is one `rank=same` row holding exactly its nodes, named at its left, and the
    row names are chained top to bottom: entry, the routes with no level, 1, 2, 3, 4, exits."""
    dot = drawing.to_dot(pathway)

    for level in (1, 2, 3, 4):
        row = re.search(rf'{{ rank=same; "row:{level + 1}";\n(.*?)\n  }}', dot, re.DOTALL)
        assert row is not None
        expected = {node.id for node in pathway.nodes if node.level == level}
        assert set(re.findall(r'^    "([a-z0-9_]+)" \[', row.group(1), re.M)) == expected
        assert f'"row:{level + 1}" [label="Level {level}\\n' in dot
    assert (
        '"row:0" -> "row:1" -> "row:2" -> "row:3" -> "row:4" -> "row:5" -> "row:6" -> "row:7"'
        in dot
    )


def test_the_legend_explains_every_kind_drawn_in_plain_words(pathway: PathwayGraph) -> None:
    dot = drawing.to_dot(pathway)
    (legend,) = [line for line in dot.splitlines() if line.startswith('  "legend" [')]

    for words in ("route:", "step up:", "step down:", "transition:", "exit:", "forbidden:"):
        assert words in legend
    for words in ("house", "rounded box", "double ellipse", "Level 1: Universal"):
        assert words in legend
    assert "step_up" not in legend


def test_node_labels_wrap_and_shapes_follow_kinds(pathway: PathwayGraph) -> None:
    dot = drawing.to_dot(pathway)

    assert 'label="Emotional wellbeing\\nand mental health\\nsingle point of access"' in dot
    assert re.search(r'^    "front_door" \[.*shape="invhouse"', dot, re.M)
    assert re.search(r'^    "closure" \[.*peripheries=2', dot, re.M)


# --- One picture per question -----------------------------------------------------------------


def test_routes_view_shows_the_entrys_decisions_and_those_it_hands_on(
    pathway: PathwayGraph,
) -> None:
    """12 routes from the Front Door, 7 a manager may decide, 5 of an open case's worker."""
    arrows = dot_lines(drawing.to_dot(pathway, view="routes"))

    sources = {source for source, _ in arrows}
    assert sources == {"front_door", "manual_review", "allocated_worker"}
    assert len(arrows) == 12 + 7 + 5
    assert all('class="route"' in attrs for attrs in arrows.values())
    # Labels say when: the repeated "manager decides" is left off each arrow.
    assert 'label="the rules could not\\ndecide"' in arrows[("front_door", "manual_review")]
    assert "label=" not in arrows[("manual_review", "universal_services")]


def test_ladder_view_shows_only_step_ups_and_step_downs(pathway: PathwayGraph) -> None:
    dot = drawing.to_dot(pathway, view="ladder")
    arrows = dot_lines(dot)

    kinds = {re.search(r'class="(\w+)"', attrs).group(1) for attrs in arrows.values()}  # type: ignore[union-attr]
    assert kinds == {"step_up", "step_down"}
    assert ("universal_services", "team_around_the_family") in arrows
    assert ("camhs_inpatient", "camhs_tier_2_3") in arrows
    assert "front_door" not in dot_nodes(dot)
    assert "closure" not in dot_nodes(dot)


def test_exits_view_shows_age_transitions_and_exits_left_to_right(pathway: PathwayGraph) -> None:
    dot = drawing.to_dot(pathway, view="exits")
    arrows = dot_lines(dot)

    kinds = {re.search(r'class="(\w+)"', attrs).group(1) for attrs in arrows.values()}  # type: ignore[union-attr]
    assert kinds == {"transition", "exit"}
    assert 'label="18th birthday"' in arrows[("children_in_care", "care_leavers")]
    assert 'rankdir="LR"' in dot


def test_service_view_shows_what_leads_in_and_where_it_can_go(pathway: PathwayGraph) -> None:
    """Team around the family: 6 moves in, 6 out, each labelled with when it happens."""
    dot = drawing.to_dot(pathway, view="service", node="team_around_the_family")
    arrows = dot_lines(dot)

    into = {a for a, b in arrows if b == "team_around_the_family"}
    out_of = {b for a, b in arrows if a == "team_around_the_family"}
    assert into == {
        "front_door",
        "manual_review",
        "universal_services",
        "single_agency_support",
        "intensive_early_help",
        "child_in_need_plan",
    }
    assert out_of == {
        "universal_services",
        "single_agency_support",
        "closure",
        "intensive_early_help",
        "child_and_family_assessment",
        "strategy_discussion",
    }
    assert dot_nodes(dot) == into | out_of | {"team_around_the_family"}
    assert 'label="outcomes achieved"' in arrows[("team_around_the_family", "universal_services")]
    assert re.search(rf'^    "team_around_the_family" \[.*color="{HIGHLIGHT_COLOUR}"', dot, re.M)


def test_service_view_of_camhs_inpatient_shows_its_forbidden_move(pathway: PathwayGraph) -> None:
    arrows = dot_lines(drawing.to_dot(pathway, view="service", node="camhs_inpatient"))

    assert 'label="forbidden"' in arrows[("camhs_inpatient", "adult_psychiatric_ward")]


def test_service_view_needs_a_node_of_the_pathway(pathway: PathwayGraph) -> None:
    with pytest.raises(UsageError, match="the service view needs a node"):
        drawing.to_dot(pathway, view="service")
    with pytest.raises(UsageError, match="'tea_club' is not a node of pathway kent"):
        drawing.to_dot(pathway, view="service", node="tea_club")
    with pytest.raises(UsageError, match="no view 'sideways'; valid values: whole, routes"):
        drawing.to_dot(pathway, view="sideways")  # type: ignore[arg-type]


# --- Highlights -------------------------------------------------------------------------------


def test_highlighted_path_is_drawn_bold_and_coloured(pathway: PathwayGraph) -> None:
    journey = ("front_door", "strategy_discussion", "child_protection_plan", "child_in_need_plan")
    pairs = set(pairwise(journey))

    arrows = dot_lines(drawing.to_dot(pathway, journey))
    for ends, attrs in arrows.items():
        assert ("penwidth=4" in attrs and HIGHLIGHT_COLOUR in attrs) is (ends in pairs)

    mermaid = drawing.to_mermaid(pathway, journey).splitlines()
    positions = [i for i, e in enumerate(pathway.edges) if (e.source, e.target) in pairs]
    expected = f"  linkStyle {','.join(map(str, positions))} stroke:{HIGHLIGHT_COLOUR}"
    assert any(line.startswith(expected) for line in mermaid)
    assert f"  class {','.join(sorted(journey))} highlight" in mermaid


def test_a_highlight_is_drawn_whole_even_where_it_leaves_the_view(pathway: PathwayGraph) -> None:
    path = ("front_door", "team_around_the_family", "universal_services")

    arrows = dot_lines(drawing.to_dot(pathway, path, view="routes"))

    assert "penwidth=4" in arrows[("team_around_the_family", "universal_services")]


def test_highlight_must_follow_the_edges(pathway: PathwayGraph) -> None:
    with pytest.raises(UsageError, match="cannot highlight front_door -> closure"):
        drawing.to_mermaid(pathway, ["front_door", "closure"])
    with pytest.raises(UsageError, match="'nowhere' is not a node"):
        drawing.to_dot(pathway, ["nowhere"])


# --- Mermaid ----------------------------------------------------------------------------------


def test_mermaid_says_every_edges_kind_in_plain_words(pathway: PathwayGraph) -> None:
    """Mermaid has no legend, so each arrow carries its kind, "step down" not `step_down`."""
    lines = drawing.to_mermaid(pathway).splitlines()
    arrows = {"step_up": "==>", "step_down": "-.->"}

    for edge in pathway.edges:
        arrow = arrows.get(edge.kind.value, "-->")
        words = edge.kind.value.replace("_", " ")
        assert f'  {edge.source} {arrow}|"{words}"| {edge.target}' in lines
    assert "  camhs_inpatient --x|forbidden| adult_psychiatric_ward" in lines


def test_mermaid_levels_are_subgraphs(pathway: PathwayGraph) -> None:
    mermaid = drawing.to_mermaid(pathway)

    for level in (1, 2, 3, 4):
        expected = {node.id for node in pathway.nodes if node.level == level}
        band = re.search(rf"subgraph band_level_{level}\[.*?\n(.*?)\n  end", mermaid, re.DOTALL)
        assert band is not None
        assert set(re.findall(r"^    ([a-z0-9_]+)\W", band.group(1), re.M)) == expected


# --- A journey --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """A decided move, shaped as `TransitionDecision` is."""

    from_service: str
    to_service: str
    kind: str
    decided_at: datetime
    decided_by: str = "rules"
    overridden: bool = False


def on(day: int, month: int) -> datetime:
    return datetime(2026, month, day, 10, tzinfo=UTC)


JOURNEY = (
    Step("team_around_the_family", "child_and_family_assessment", "step_up", on(5, 1)),
    Step("child_and_family_assessment", "child_and_family_assessment", "stay", on(1, 2)),
    Step("child_and_family_assessment", "child_in_need_plan", "step_down", on(10, 2)),
    Step("child_in_need_plan", "send_ehcp", "transition", on(3, 3), "team manager", True),
)


def test_a_journey_is_drawn_as_the_path_it_took(pathway: PathwayGraph) -> None:
    """Moves numbered in order with date, kind and who decided; stays are not moves; a move
    off the pathway's edges (an override) is drawn and marked."""
    dot = drawing.journey_dot(pathway, JOURNEY)
    arrows = dot_lines(dot)

    assert dot_nodes(dot) == {
        "team_around_the_family",
        "child_and_family_assessment",
        "child_in_need_plan",
        "send_ehcp",
    }
    assert (
        'label="1. 2026-01-05\\nstep up, by the rules"'
        in arrows[("team_around_the_family", "child_and_family_assessment")]
    )
    assert (
        'label="2. 2026-02-10\\nstep down, by the rules"'
        in arrows[("child_and_family_assessment", "child_in_need_plan")]
    )
    off = arrows[("child_in_need_plan", "send_ehcp")]
    assert 'class="off_pathway"' in off
    assert "3. 2026-03-03\\ntransition, override by\\nteam manager" in off
    assert "3 moves, 2026-01-05 to 2026-03-03" in dot
    assert "override off the pathway" in dot  # in the legend


def test_a_journey_names_only_nodes_of_the_pathway(pathway: PathwayGraph) -> None:
    with pytest.raises(UsageError, match="'tea_club' is not a node"):
        drawing.journey_dot(pathway, (Step("tea_club", "closure", "close", on(1, 1)),))
    with pytest.raises(UsageError, match="no events"):
        drawing.journey_mermaid(pathway, ())


# --- svg and png through Graphviz, and a look in a browser --------------------------------------


def drawn_extent(svg: bytes) -> tuple[tuple[float, float], tuple[float, float, float, float]]:
    """The viewBox size, and the box (min x, min y, max x, max y) of every point drawn, in
    viewBox units after the drawing's own transform."""
    root = ElementTree.fromstring(svg)
    width, height = (float(v) for v in root.attrib["viewBox"].split()[2:])
    group = root.find(f"{SVG}g")
    assert group is not None
    numbers = [float(n) for n in re.findall(r"-?[\d.]+", group.attrib["transform"])]
    scale_x, scale_y, _rotate, shift_x, shift_y = numbers
    xs: list[float] = []
    ys: list[float] = []
    for element in group.iter():
        tag = element.tag.removeprefix(SVG)
        pairs: list[tuple[float, float]] = []
        if tag in ("polygon", "polyline"):
            values = [float(v) for v in re.findall(r"-?[\d.]+", element.attrib["points"])]
            pairs = list(zip(values[::2], values[1::2], strict=True))
        elif tag == "path":
            values = [float(v) for v in re.findall(r"-?[\d.]+", element.attrib["d"])]
            pairs = list(zip(values[::2], values[1::2], strict=True))
        elif tag == "ellipse":
            cx, cy = float(element.attrib["cx"]), float(element.attrib["cy"])
            rx, ry = float(element.attrib["rx"]), float(element.attrib["ry"])
            pairs = [(cx - rx, cy - ry), (cx + rx, cy + ry)]
        elif tag == "text":
            pairs = [(float(element.attrib["x"]), float(element.attrib["y"]))]
        for x, y in pairs:
            xs.append(scale_x * (x + shift_x))
            ys.append(scale_y * (y + shift_y))
    return (width, height), (min(xs), min(ys), max(xs), max(ys))


@NEEDS_DOT
@pytest.mark.parametrize(
    ("view", "node"),
    [("whole", None), ("routes", None), ("ladder", None), ("exits", None), ("service", "closure")],
)
def test_svg_has_the_legend_and_fits_its_viewbox_and_its_window(
    pathway: PathwayGraph, view: drawing.View, node: str | None
) -> None:
    svg = drawing.render(drawing.to_dot(pathway, view=view, node=node), "svg")

    assert svg.lstrip().startswith(b"<?xml")
    assert b'<svg width="100%" height="100%"' in svg  # scales to the window, keeps its viewBox
    assert b'class="node legend"' in svg
    assert b">Legend</text>" in svg
    (width, height), (left, top, right, bottom) = drawn_extent(svg)
    assert width > 100
    assert height > 100
    assert left >= -0.5
    assert top >= -0.5
    assert right <= width + 0.5
    assert bottom <= height + 0.5


@NEEDS_DOT
def test_svg_of_a_journey_has_the_legend(pathway: PathwayGraph) -> None:
    svg = drawing.render(drawing.journey_dot(pathway, JOURNEY), "svg")

    assert b">Legend</text>" in svg
    assert b'class="edge off_pathway"' in svg


@NEEDS_DOT
def test_png_is_an_a4_landscape_page_at_150_dpi(pathway: PathwayGraph) -> None:
    """A4 landscape less a margin is 10.9 x 7.5 inches: at most 1635 x 1125 pixels."""
    png = drawing.render(drawing.to_dot(pathway), "png")

    assert png.startswith(PNG_MAGIC)
    width, height = struct.unpack(">II", png[16:24])
    assert max(width / 1635, height / 1125) == pytest.approx(1, abs=0.01)


def png_pixels(png: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and the unfiltered rows of an 8-bit RGB or RGBA png (what chromium writes)."""
    width, height, depth, colour = struct.unpack(">IIBB", png[16:26])
    assert (depth, colour) in ((8, 2), (8, 6))
    size = 3 if colour == 2 else 4
    data, at = b"", 8
    while at < len(png):
        (length,) = struct.unpack(">I", png[at : at + 4])
        kind = png[at + 4 : at + 8]
        if kind == b"IDAT":
            data += png[at + 8 : at + 8 + length]
        at += 12 + length
    raw = zlib.decompress(data)
    stride = width * size
    rows: list[bytes] = []
    previous = bytearray(stride)
    for y in range(height):
        kind, line = (
            raw[y * (stride + 1)],
            bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)]),
        )
        for i in range(stride):
            left = line[i - size] if i >= size else 0
            up = previous[i]
            corner = previous[i - size] if i >= size else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                guess = left + up - corner
                near = min((abs(guess - left), 0), (abs(guess - up), 1), (abs(guess - corner), 2))
                line[i] = (line[i] + (left, up, corner)[near[1]]) & 0xFF
        rows.append(bytes(line))
        previous = line
    return width, height, [row[::size] for row in rows]  # the red channel of each pixel


@NEEDS_DOT
@NEEDS_CHROMIUM
def test_whole_pathway_svg_fills_a_browser_window(pathway: PathwayGraph, tmp_path: Path) -> None:
    """Opened in chromium at 1280 x 900, the whole drawing shows, scaled to the window (it used
    to open at print size, a third of it showing)."""
    svg = tmp_path / "kent.svg"
    svg.write_bytes(drawing.render(drawing.to_dot(pathway), "svg"))
    shot = tmp_path / "shot.png"
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [
                str(CHROMIUM),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                f"--user-data-dir={profile}",
                f"--screenshot={shot}",
                "--window-size=1280,900",
                svg.as_uri(),
            ],
            capture_output=True,
            timeout=120,
            check=False,
        )
    png = shot.read_bytes()
    width, height, rows = png_pixels(png)
    assert (width, height) == (1280, 900)
    columns = [x for x in range(width) if any(row[x] < 200 for row in rows[::4])]
    lines = [y for y, row in enumerate(rows) if any(value < 200 for value in row[::4])]
    left, right, top, bottom = columns[0], columns[-1], lines[0], lines[-1]
    # Scaled to fit, the drawing spans one dimension and leaves a margin in the other; at print
    # size it ran off the right and the bottom.
    fits_width = right - left > 0.9 * width and top > 5 and bottom < height - 5
    fits_height = bottom - top > 0.9 * height and left > 5 and right < width - 5
    assert fits_width or fits_height, (left, top, right, bottom)


def test_render_without_dot_says_how_to_install_graphviz(
    pathway: PathwayGraph, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # a directory without `dot`

    with pytest.raises(GraphvizMissing) as caught:
        drawing.render(drawing.to_dot(pathway), "svg")

    assert caught.value.code == "graphviz_missing"
    assert "apt-get install graphviz" in caught.value.message
    assert "brew install graphviz" in caught.value.message


def test_render_when_dot_fails_says_why(
    pathway: PathwayGraph, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A `dot` that cannot write the format (a partial install) is reported with its words."""
    fake = tmp_path / "dot"
    fake.write_text("#!/bin/sh\necho 'Format: \"png\" not recognized.' >&2\nexit 1\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", str(tmp_path))

    with pytest.raises(GraphvizMissing, match=r"exit status 1 \(Format: \"png\" not recognized"):
        drawing.render(drawing.to_dot(pathway), "png")


def test_render_refuses_a_text_format(pathway: PathwayGraph) -> None:
    with pytest.raises(UsageError, match="valid values: svg, png"):
        drawing.render(drawing.to_dot(pathway), "gif")  # type: ignore[arg-type]
