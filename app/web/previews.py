"""Form previews for designers: a form of a procedure package drawn exactly as the citizen portal or an officer's
task page draws it (the same macros, portal/macros.html and inbox/macros.html, and the same render_form), filled
with sample data (app.eforms.samples) or empty, inside a frame marked «Xem trước», with nothing that submits.

Everything is read from the package in memory (its manifest, {file name: parsed JSON} of its forms, and the task
table when there is one), so a deployed version and an unsaved draft preview alike: `form_preview` is the one
entry point; the studio's routes only find the version and answer 404 for a form it does not have.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from flask import render_template
from flask_babel import gettext
from markupsafe import Markup

from app.clock import local_today, now_utc
from app.dossiers.prefill import declared_sources
from app.eforms.render import render_form, render_values
from app.eforms.samples import sample_data
from app.eforms.schema import FormSchemaError
from app.identifiers import IdentifierError, format_dossier_code
from app.models import Agency

__all__ = ["CITIZEN", "OFFICER", "FormPreview", "UnknownForm", "form_list", "form_preview", "preview_views"]

CITIZEN = "cong-dan"  # the applicant: the portal's procedure page, or a task in the `cong_dan` lane
OFFICER = "can-bo"  # an officer: a task page, or the walk-in intake of the start form
APPLICANT_ROLE = "cong_dan"
SCHEMA_SUFFIX = ".schema.json"


class UnknownForm(LookupError):
    """The package has no form of that name (a UI hints file is not a form)."""


@dataclass(frozen=True)
class FormUse:
    """One form of a package and who fills it in: the start form, or the user tasks that name it."""

    name: str
    title: str
    start: bool
    tasks: list[dict[str, Any]] = field(default_factory=list)  # the task table's entries that use it

    @property
    def applicant(self) -> bool:
        """Filled in by the applicant: the start form, or a form used only by tasks of the `cong_dan` lane."""
        return self.start or (bool(self.tasks) and all(t.get("role") == APPLICANT_ROLE for t in self.tasks))


@dataclass(frozen=True)
class FormPreview:
    form: str
    title: str
    views: tuple[str, ...]  # the views that mean something for this form, the first the usual one
    view: str
    with_sample: bool
    problems: dict[str, str]  # {field path: message} where the sample is not valid for the form ("" the whole form)
    html: Markup  # the frame with the page inside


def _schemas(forms: Mapping[str, Any]) -> list[str]:
    return sorted(name for name, content in forms.items()
                  if name.endswith(SCHEMA_SUFFIX) and isinstance(content, Mapping))


def _user_tasks(tasks: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    return [dict(info) for info in (tasks or {}).values()
            if isinstance(info, Mapping) and info.get("kind") != "start"]


def _start_info(tasks: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return next((info for info in (tasks or {}).values() if isinstance(info, Mapping) and info.get("kind") == "start"),
                {})


def form_list(manifest: Mapping[str, Any], forms: Mapping[str, Any],
              tasks: Mapping[str, Any] | None = None) -> list[FormUse]:
    """Every form of the package (the start form first), with its title and the steps that use it."""
    start = manifest.get("start_form")
    uses = [FormUse(name, str(forms[name].get("title") or name), name == start,
                    [t for t in _user_tasks(tasks) if t.get("form") == name]) for name in _schemas(forms)]
    return sorted(uses, key=lambda u: (not u.start, u.name))


def preview_views(use: FormUse) -> tuple[str, ...]:
    """The start form is seen by the citizen (the portal) and by the desk officer (walk-in intake); a task's form by
    whoever does the task: the applicant in a `cong_dan` lane, else an officer."""
    if use.start:
        return CITIZEN, OFFICER
    return (CITIZEN,) if use.applicant else (OFFICER,)


def _ui(forms: Mapping[str, Any], name: str) -> Mapping[str, Any] | None:
    ui = forms.get(name[:-len(SCHEMA_SUFFIX)] + ".ui.json")
    return ui if isinstance(ui, Mapping) else None


def _sample_code(manifest: Mapping[str, Any], today: date) -> str:
    """A dossier code as the agency's first dossier of the day would get it, for the task page's heading."""
    try:
        return format_dossier_code(str(manifest.get("agency") or ""), today, 1)
    except (IdentifierError, TypeError, ValueError):
        return "—"


def form_preview(manifest: Mapping[str, Any], forms: Mapping[str, Any], form: str, with_sample: bool = True, *,
                 view: str | None = None, tasks: Mapping[str, Any] | None = None, agency: Agency | None = None,
                 today: date | None = None) -> FormPreview:
    """The form `form` of a package as the citizen or the officer (`view`, CITIZEN or OFFICER; the usual one when
    absent or meaningless for this form) will see it, with sample data or empty.

    `tasks` is the package's task table (app.procedures.package.task_table: titles, lanes' roles, documentation);
    `agency` the agency whose calendar states the processing time on the citizen's page (without it, that line is
    left out). Raises UnknownForm when the package has no such form. Needs a request context (it renders).
    """
    use = next((u for u in form_list(manifest, forms, tasks) if u.name == form), None)
    if use is None:
        raise UnknownForm(form)
    today = today or local_today()
    views = preview_views(use)
    view = view if view in views else views[0]
    schema, ui = forms[form], _ui(forms, form)
    sample = sample_data(schema, ui, today=today)
    data = sample.data if with_sample else {}
    start_name = str(manifest.get("start_form") or "")
    task = use.tasks[0] if use.tasks else {}
    context: dict[str, Any] = {
        "manifest": manifest, "agency": agency, "form": form, "view": view,
        "page": "procedure" if use.start and view == CITIZEN else "walk_in" if use.start else "task",
        "title": str(task.get("title") or use.title),
    }
    # A citizen whom the population registry knows finds the fields the manifest prefills marked with their source.
    sources = declared_sources(manifest, now_utc()) if with_sample and context["page"] == "procedure" else {}
    try:
        context["fields"] = render_form(schema, ui, data, prefill_sources=sources, inert=True)
        if use.start:
            context["guidance"] = [_start_info(tasks).get("documentation"), schema.get("description")]
        else:
            context["guidance"] = [task.get("documentation"), schema.get("description")]
            context["dossier_code"] = _sample_code(manifest, today)
            start_schema = forms.get(start_name)
            if isinstance(start_schema, Mapping):
                start_data = sample_data(start_schema, _ui(forms, start_name), today=today).data if with_sample else {}
                context["dossier_values"] = render_values(start_schema, _ui(forms, start_name), start_data)
    except FormSchemaError as exc:
        context["error"] = gettext("Biểu mẫu chưa hiển thị được: %(pointer)s: %(message)s",
                                   pointer=exc.pointer or "/", message=exc.message)
    try:
        html = Markup(render_template("studio/_form_preview.html", **context))  # noqa: S704 - a rendered template
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        # A draft's manifest the package check would refuse (a fee item without its name, a processing time
        # without its unit): the frame says so instead of failing the page that embeds it.
        context["error"] = gettext("Trang của biểu mẫu chưa hiển thị được vì procedure.json chưa hợp lệ (%(problem)s); "
                                   "hãy kiểm tra gói thủ tục.", problem=f"{type(exc).__name__}: {exc}")
        html = Markup(render_template("studio/_form_preview.html", **context))  # noqa: S704 - as above
    return FormPreview(form, context["title"], views, view, with_sample, dict(sample.problems) if with_sample else {},
                       html)
