"""The SVG charts: well-formed, every label text, no inline style, gaps where data is missing."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from mailbot.web.charts import bar_chart, line_chart, nice_top

NS = "{http://www.w3.org/2000/svg}"
HOSTILE = '<script>alert("x")</script>\u202eevil & co'


def parsed(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # raises on anything that is not well-formed XML


def test_bars_stack_one_piece_per_value_with_its_figure() -> None:
    svg = bar_chart(
        "Mails", ["11-01", "11-02", "11-03"], {"issued": [1, 0, 4], "ignored": [2, 3, 0]}
    )
    root = parsed(svg)
    pieces = [r for r in root.iter(f"{NS}rect") if r.find(f"{NS}title") is not None]
    assert len(pieces) == 4  # zeros draw nothing
    assert [p.findtext(f"{NS}title") for p in pieces] == [
        "11-01 issued: 1",
        "11-01 ignored: 2",
        "11-02 ignored: 3",
        "11-03 issued: 4",
    ]
    heights = {p.findtext(f"{NS}title"): float(p.get("height", 0)) for p in pieces}
    assert heights["11-03 issued: 4"] == 2 * heights["11-01 ignored: 2"]
    assert root.get("aria-label") == "Mails" and root.get("role") == "img"


def test_every_label_is_text_and_nothing_is_styled_inline() -> None:
    for svg in (
        bar_chart(HOSTILE, [HOSTILE], {HOSTILE: [3]}),
        line_chart(HOSTILE, [HOSTILE], {HOSTILE: [3.0]}),
    ):
        assert "<script" not in svg and "\u202e" not in svg
        assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;\\u202eevil &amp; co" in svg
        assert "style=" not in svg and "<style" not in svg and "javascript:" not in svg
        root = parsed(svg)
        assert root.findtext(f"{NS}title") == '<script>alert("x")</script>\\u202eevil & co'


def test_a_missing_value_breaks_the_line() -> None:
    svg = line_chart("Wait", list("abcdef"), {"median": [1.0, 2.0, None, 3.0, 4.0, None]})
    root = parsed(svg)
    assert len(list(root.iter(f"{NS}polyline"))) == 2
    assert len(list(root.iter(f"{NS}circle"))) == 4
    lone = parsed(line_chart("Wait", list("abc"), {"median": [None, 5.0, None]}))
    assert not list(lone.iter(f"{NS}polyline")) and len(list(lone.iter(f"{NS}circle"))) == 1


def test_empty_and_zero_series_still_draw_axes() -> None:
    for svg in (
        bar_chart("Nothing", [], {}),
        bar_chart("Zeros", ["a", "b"], {"issued": [0, 0]}),
        line_chart("None", ["a"], {"x": [None]}),
    ):
        root = parsed(svg)
        assert len(list(root.iter(f"{NS}line"))) == 5  # the grid, from 0 to the top


def test_the_axis_ends_on_a_round_number() -> None:
    assert [nice_top(v) for v in (0, 0.4, 1, 7, 10, 11, 100, 101, 4999)] == [
        1,
        1,
        1,
        10,
        10,
        20,
        100,
        200,
        5000,
    ]


def test_the_legend_wraps_inside_the_width() -> None:
    names = {f"outcome number {i}": [i] for i in range(12)}
    root = parsed(bar_chart("Many", ["d"], names))
    width = float(root.get("width", 0))
    xs = [float(t.get("x", 0)) for t in root.iter(f"{NS}text")]
    assert max(xs) < width and float(root.get("height", 0)) > 220 + 18 * 2
