"""PDF (A4) from the HTML document, printed by WeasyPrint: no browser. WeasyPrint needs the Pango library
(`libpango-1.0-0` on Debian and Ubuntu, `pango` in Homebrew); without it the export says so in one line."""

from __future__ import annotations

import io
from typing import BinaryIO

from ..errors import UserError
from .export_html import write_html


def write_pdf(doc: dict, out: BinaryIO) -> None:
    html = io.StringIO()
    write_html(doc, html)
    try:
        import weasyprint
    except (ImportError, OSError) as e:  # OSError: the Pango library is missing
        why = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"PDF export needs WeasyPrint and the Pango library ({why}): install Pango "
                        "(apt install libpango-1.0-0 libpangoft2-1.0-0), or export --format html and print it", 2) \
            from None
    import logging

    logging.getLogger("weasyprint").setLevel(logging.ERROR)  # its CSS warnings are not the reader's business
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    title = doc["runbook"]["title"]
    document = weasyprint.HTML(string=html.getvalue()).render()
    document.metadata.title = ("REHEARSAL: " if doc.get("rehearsal") else "") + f"Deploy {doc['kind']}: {title}"
    document.metadata.created = document.metadata.modified = None  # the same document gives the same file
    out.write(document.write_pdf())
