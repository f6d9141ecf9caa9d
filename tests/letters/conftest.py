"""Helpers for the letter tests: read a letter the way its reader would.

The QR code is decoded for real (zxing-cpp) -- from the print view's inline SVG drawn as
pixels, and from the PDF page rendered by PDFium -- never just checked to exist.
"""

from __future__ import annotations

import io
import os
import re

import pypdfium2
import pytest
import zxingcpp
from PIL import Image
from pypdf import PdfReader

from models.db import db
from models.services.settings import get_settings

_PATH_COMMAND = re.compile(r"([Mmh])\s*(-?[\d.]+)(?:[\s,]+(-?[\d.]+))?")


def qr_matrix(svg) -> list[list[bool]]:
    """The dark modules of segno's SVG path ("M x y", "h n" draws n modules, "m dx dy")."""
    size = int(float(svg["viewbox"].split()[2]))
    grid = [[False] * size for _ in range(size)]
    x = y = 0.0
    for command, first, second in _PATH_COMMAND.findall(svg.find("path")["d"]):
        if command == "M":
            x, y = float(first), float(second)
        elif command == "m":
            x, y = x + float(first), y + float(second)
        else:
            for column in range(int(x), int(x + float(first))):
                grid[int(y)][column] = True
            x += float(first)
    return grid


def decode_image(image: Image.Image) -> list[str]:
    return [barcode.text for barcode in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)]


def decode_svg(svg) -> list[str]:
    """Draws the SVG's modules as pixels (8 per module) and decodes them."""
    grid = qr_matrix(svg)
    scale = 8
    image = Image.new("L", (len(grid) * scale, len(grid) * scale), 255)
    for row, cells in enumerate(grid):
        for column, dark in enumerate(cells):
            if dark:
                image.paste(0, (column * scale, row * scale, (column + 1) * scale, (row + 1) * scale))
    return decode_image(image)


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(data)).pages)


def pdf_qr_codes(data: bytes) -> list[str]:
    """Renders the PDF's first page at 200 dpi and decodes the QR codes on it."""
    document = pypdfium2.PdfDocument(data)
    try:
        image = document[0].render(scale=200 / 72).to_pil()
    finally:
        document.close()
    return decode_image(image)


def no_space(text: str) -> str:
    """A long URL may wrap in the PDF; its reader joins the lines again."""
    return "".join(text.split())


@pytest.fixture
def letter_settings(app):
    """Saves business settings (the letter flags, a logo) for the requests to read."""

    def save(**values):
        with app.app_context():
            settings = get_settings(for_update=True)
            for name, value in values.items():
                setattr(settings, name, value)
            db.session.commit()

    return save


def require_pdf(app) -> None:
    """PDF tests need WeasyPrint's system libraries (Pango). Skipped where they are
    missing, like the browser tests -- unless DOSSIER_REQUIRE_BROWSER=1 (CI, which
    installs every system package), where a missing library is a failure."""
    from models.services.pdf import load_weasyprint

    with app.app_context():
        if load_weasyprint() is not None:
            return
    message = "WeasyPrint cannot load Pango (apt-get install libpango-1.0-0 libpangoft2-1.0-0)"
    if os.environ.get("DOSSIER_REQUIRE_BROWSER") == "1":
        pytest.fail(f"DOSSIER_REQUIRE_BROWSER=1 but {message}", pytrace=False)
    pytest.skip(f"PDF letters need WeasyPrint's system libraries: {message}")


@pytest.fixture
def pdf_available(app) -> None:
    require_pdf(app)
