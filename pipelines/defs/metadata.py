"""Metadata helpers shared by the Dagster assets."""

import dagster as dg
import polars as pl


def markdown_table(frame: pl.DataFrame, limit: int = 15) -> dg.MetadataValue:
    """A preview of ``frame`` as a markdown table for the asset's metadata panel."""
    if frame.is_empty():
        return dg.MetadataValue.md("_none_")
    shown = frame.head(limit)
    lines = ["| " + " | ".join(shown.columns) + " |", "|" + "---|" * len(shown.columns)]
    for row in shown.iter_rows():
        cells = []
        for value in row:
            text = f"{value:,.2f}" if isinstance(value, float) else \
                "" if value is None else str(value)
            cells.append(text.replace("|", "\\|").replace("\n", " "))
        lines.append("| " + " | ".join(cells) + " |")
    if frame.height > limit:
        lines.append(f"\n… {frame.height - limit:,} more rows")
    return dg.MetadataValue.md("\n".join(lines))
