"""HTML to PDF with nothing fetched (WeasyPrint): letters, documents of every kind and the
account statement are all made here.

WeasyPrint is imported on first use: it loads Pango through cffi at import, which raises
OSError on a machine without it -- the app must still start there, and only the PDFs
answer 503 (each caller says what to use instead).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence

from flask import current_app


@functools.cache
def load_weasyprint():
    """The weasyprint module, or None when it or its system libraries are missing."""
    try:
        import weasyprint
    except (ImportError, OSError) as error:
        current_app.logger.warning("PDF files unavailable: %s", error)
        return None
    return weasyprint


def html_to_pdf(weasyprint, html: str, stylesheets: Sequence[str] = (), **options) -> bytes:
    """`html` as a PDF, styled by `stylesheets` (paths in the static folder, read from disk
    and passed in; none when the page carries its own style). `options` go to write_pdf
    (e-invoices ask for `pdf_variant="pdf/a-3b"`).

    Nothing is fetched: images are inline (`data:` URLs) and the URL fetcher accepts only
    `data:` -- any other reference (http, https, file, relative) is refused, so a page can
    never make the server request a URL or read a local file.
    """
    fetcher = weasyprint.urls.URLFetcher(allowed_protocols={"data"}, allow_redirects=False)
    css = []
    for stylesheet in stylesheets:
        with open(os.path.join(current_app.static_folder, stylesheet), encoding="utf-8") as handle:
            css.append(weasyprint.CSS(string=handle.read(), url_fetcher=fetcher))
    return weasyprint.HTML(string=html, url_fetcher=fetcher, media_type="print").write_pdf(stylesheets=css, **options)
