"""A form's POST that runs one use case and goes back to a page: shared by the inbox and the portal."""

from __future__ import annotations

from collections.abc import Callable

from flask import abort, flash, redirect
from flask.typing import ResponseReturnValue

from app.dossiers.errors import NotFound, ServiceError
from app.extensions import db


def act_and_return(action: Callable[[], str], back: str) -> ResponseReturnValue:
    """Run `action` (it answers what happened, for the next page), commit, and go `back` (303). An unknown
    dossier or task is a 404; a refusal is rolled back and shown with its details."""
    try:
        done = action()
        db.session.commit()
    except NotFound:
        db.session.rollback()
        abort(404)
    except ServiceError as exc:
        db.session.rollback()
        details = [m for m in (exc.details or {}).values() if isinstance(m, str) and m != exc.message]
        flash(" ".join([exc.message, *details]), "error")
    else:
        flash(done)
    return redirect(back), 303
