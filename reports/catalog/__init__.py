"""Report templates (可视化展示模板): one small registry. A template is a data function that returns plain data
(`ReportData`: KPI tiles, figures, tables) for a filter set, plus its title and the question it answers; the page,
the PDF, the XLSX and the API all render that same data (reports/views.py, reports/pdf.py, reports/api.py), and
charts are drawn from it by reports/charts.py.

Numbers come from the rollups (reports/models.py) where one holds them; what no rollup holds (ticket categories and
SLA, re-issues, reject reasons) is counted with the very queryset its drill-down lists (reports/rows.py), so a
count tile always equals the row count of the list its link opens.
"""

from reports.catalog import templates as _templates  # noqa: F401  registers the six templates
from reports.catalog.base import (
    REGISTRY,
    Column,
    Drill,
    Figure,
    Point,
    ReportData,
    ReportTemplate,
    Row,
    Series,
    Table,
    Tile,
    cell_text,
    default_month,
    previous_month,
    template_for,
)

__all__ = [
    "REGISTRY",
    "Column",
    "Drill",
    "Figure",
    "Point",
    "ReportData",
    "ReportTemplate",
    "Row",
    "Series",
    "Table",
    "Tile",
    "cell_text",
    "default_month",
    "previous_month",
    "template_for",
]
