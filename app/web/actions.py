"""What the inbox and the portal share around a use case: the dossier a page shows, and a form's POST that runs one
use case and goes back to a page."""

from __future__ import annotations

from collections.abc import Callable

from flask import abort, flash, redirect
from flask.typing import ResponseReturnValue
from flask_login import current_user

from app.dossiers import services
from app.dossiers.errors import NotFound, ServiceError
from app.extensions import db
from app.models import Dossier


def viewed_dossier(code: str) -> Dossier:
    """The dossier the signed-in user may view: 404 if there is none, 403 if it is not theirs to see."""
    try:
        return services.view_dossier(code, current_user)
    except NotFound:
        abort(404)
    except ServiceError:
        abort(403)


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
