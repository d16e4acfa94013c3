"""The BPMN file of a deployed version as an answer (the studio's and the officers' diagrams fetch it)."""

from __future__ import annotations

from flask import Response


def bpmn_response(filename: str, xml: str) -> Response:
    """The XML as a download: a script reads it with fetch(); a browser sent to it saves it instead of rendering
    a designer's file on this site."""
    response = Response(xml, mimetype="application/xml")
    safe = "".join(c for c in filename if c.isalnum() or c in "._-") or "process.bpmn"
    response.headers["Content-Disposition"] = f'attachment; filename="{safe}"'
    return response
