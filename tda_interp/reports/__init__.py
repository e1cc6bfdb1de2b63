"""Reports of a run: a data model (frozen dataclasses) first, HTML and JSON renderings second.

Templates are package data (``reports/templates``), loaded with :mod:`importlib.resources`.
"""

from tda_interp.reports.html import render_html, render_json, write_report
from tda_interp.reports.model import ReportData, build_report

__all__ = ["ReportData", "build_report", "render_html", "render_json", "write_report"]
