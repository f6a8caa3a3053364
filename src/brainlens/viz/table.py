"""A table of figures as a picture: a metric per row, its value, and what measured it."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["table_figure"]

# column starts as fractions of the width, and the characters a note may take per line there
_COLUMNS = (0.01, 0.25, 0.36)
_NOTE_WIDTH = 100
_LINE_INCHES = 0.22


def table_figure(rows: Sequence[tuple[str, str, str]], title: str = "", *, header=("Metric", "Value", "Measured with")):
    """A matplotlib Figure showing ``rows`` of (metric, value, note) under ``header``, one row each, notes
    wrapped to the third column. Save it with :func:`brainlens.viz.save_figure`.

    >>> save_figure(table_figure([("PixCorr", "0.392", "425 px")], "subject 1"), "table.png")
    """
    import textwrap

    from matplotlib.figure import Figure

    if not rows:
        raise ValueError("a table needs at least one row; none was given.")
    cells = []
    for row in rows:
        if len(row) != 3:
            raise ValueError(f"each row must be (metric, value, note); got {row!r}.")
        cells.append((str(row[0]), str(row[1]), textwrap.wrap(str(row[2]), _NOTE_WIDTH) or [""]))
    heights = [1] + [len(cell[2]) for cell in cells]  # in lines: the header, then each row
    total = sum(heights) + 0.6 * len(heights) + (1.5 if title else 0.5)
    figure = Figure(figsize=(11, total * _LINE_INCHES))
    ax = figure.add_axes((0, 0, 1, 1))
    ax.axis("off")
    ax.set_xlim(0, 1)
    ax.set_ylim(total, 0)  # y in lines, from the top
    y = 0.3
    if title:
        ax.text(_COLUMNS[0], y + 0.5, title, fontsize=11, va="center")
        y += 1.2
    for index, (height, cell) in enumerate(zip(heights, [(*header[:2], [header[2]]), *cells])):
        weight = "bold" if index == 0 else "normal"
        middle = y + 0.3 + height / 2
        ax.text(_COLUMNS[0], middle, cell[0], fontsize=9, va="center", weight=weight)
        ax.text(_COLUMNS[1], middle, cell[1], fontsize=9, va="center", weight=weight, family="monospace")
        ax.text(_COLUMNS[2], middle, "\n".join(cell[2]), fontsize=9, va="center", weight=weight, linespacing=1.3)
        y += height + 0.6
        ax.axhline(y, color="#999999" if index else "#333333", linewidth=0.6 if index else 1.0)
    return figure
