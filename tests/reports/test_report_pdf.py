"""The PDF report: A4, CJK font embedded as a subset, vector charts, a header with filters, time and user."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conftest import DAYS, REPORT_QUERY, TODAY
from django.test import Client
from django.urls import reverse

from piaogen.models import User
from reports.filters import ReportFilters
from reports.pdf import report_pdf_bytes
from reports.rollups import rollups_refresh_all


def pdf_info(pdf: bytes, tmp_path: Path) -> tuple[str, str, str]:
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf)
    fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True).stdout
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True).stdout
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout
    return fonts, info, text


def test_the_report_embeds_a_cjk_subset_font_and_prints_the_filters_time_and_user(
    world: dict[str, Any], tmp_path: Path
) -> None:
    rollups_refresh_all(today=TODAY)

    pdf = report_pdf_bytes(ReportFilters(start=DAYS[0], end=TODAY, province="32"), user_label="王经理（管理人员）")

    fonts, info, text = pdf_info(pdf, tmp_path)
    font_rows = [line.split() for line in fonts.splitlines()[2:]]
    assert font_rows and all(row[0].split("+")[0].isupper() and "+" in row[0] for row in font_rows)  # subsets
    assert any("WenQuanYi" in row[0] for row in font_rows)
    assert all(row[-5] == "yes" and row[-4] == "yes" for row in font_rows)  # emb yes, sub yes
    assert "A4" in info
    pages = int(next(line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")))
    assert pages >= 2
    assert "江苏" in text and "2026-11-17" in text and "王经理" in text and "环比" in text
    assert "浙江" not in text


def test_the_charts_are_vector_drawings_not_images(world: dict[str, Any], tmp_path: Path) -> None:
    rollups_refresh_all(today=TODAY)
    pdf = report_pdf_bytes(ReportFilters(start=DAYS[0], end=TODAY), user_label="x")
    path = tmp_path / "r.pdf"
    path.write_bytes(pdf)

    images = subprocess.run(["pdfimages", "-list", str(path)], capture_output=True, text=True, check=True).stdout

    assert len(images.strip().splitlines()) == 2  # only the header lines: no raster image at all
    assert "按日开票金额与税额" in subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True,
                                                  check=True).stdout  # fmt: skip


def test_the_pdf_page_is_scoped_like_everything_else(
    world: dict[str, Any], jiangsu_user: User, client_for: Callable[[User], Client], tmp_path: Path
) -> None:
    rollups_refresh_all(today=TODAY)

    response = client_for(jiangsu_user).get(reverse("report-pdf"), {**REPORT_QUERY, "province": "33"})

    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    _, _, text = pdf_info(response.content, tmp_path)
    assert "江苏" in text and "浙江" not in text
