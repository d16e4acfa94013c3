"""The documents the platform issues about a dossier, as PDFs: the forms of Thông tư 01/2018/TT-VPCP (mẫu 01–05)
— receipt and appointment, supplement request, refusal, apology with a new date, and the control sheet.

Issuing a document (`issue`) records what it says, as read at that moment, in an IssuedDocument row; its PDF is
rendered from that record whenever it is downloaded (`render`), the same bytes every time. The record, not a
stored file, is the document: the reception's transaction gains one small INSERT instead of a PDF rendering
(hundreds of milliseconds), nothing is kept twice, and a receipt downloaded later still says what it said at
the desk even after the appointment moved or the applicant's address was corrected. The control sheet is also
rendered live from the dossier's steps (`control_sheet`), for officers following a dossier in progress.

Each PDF is in Vietnamese (the regulation's language, whatever the reader's interface language), carries the
dossier code and a QR code of the public status page, on A5 paper as the forms are designed, in a font with
complete Vietnamese coverage (DejaVu Serif, Debian's fonts-dejavu-core).

Other code calls `issue(dossier, kind, actor, **context)`; code inside app.dossiers, which may not import this
package, publishes `events.document_owed` instead, and app.subscriptions issues it. Nothing here commits.
"""

from app.documents.content import (
    KINDS,
    DocumentError,
    Kind,
    control_content,
    documents_of,
    find_document,
    issue,
    status_url,
)
from app.documents.pdf import control_sheet, filename, render, render_content

__all__ = ["KINDS", "DocumentError", "Kind", "control_content", "control_sheet", "documents_of", "filename",
           "find_document", "issue", "render", "render_content", "status_url"]
