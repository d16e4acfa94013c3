"""The request and response models of API v1: the handlers validate request bodies and query strings with
them, and the OpenAPI document is generated from them (app/web/api/spec.py).

Field titles are Vietnamese msgids (marked with ``N_``): the validation messages name the field by its title.
Request models are strict (no coercion of "10" to 10, no undeclared fields); response models forbid
undeclared fields too, so the document lists everything an answer carries (tests check real answers).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, RootModel, WithJsonSchema
from werkzeug.datastructures import FileStorage

from app.models.user import N_
from app.procedures.package import manifest_schema

# ---------------------------------------------------------------- building blocks


class RequestModel(BaseModel):
    """A JSON or form body: strict types, nothing undeclared."""

    model_config = ConfigDict(strict=True, extra="forbid")
    # A POST whose body may be left out entirely (read as {}); otherwise an empty body is refused.
    body_optional: ClassVar[bool] = False


class QueryModel(BaseModel):
    """A query string: values are text, so they are converted (``?dry_run=1``); other parameters (``lang``)
    are left to whoever reads them."""

    model_config = ConfigDict(extra="ignore")


class ResponseModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _uploaded(value: Any) -> FileStorage:
    if not isinstance(value, FileStorage) or not value.filename:
        raise ValueError("not a file")
    return value


# A file part of a multipart body (with a file name); documented as binary.
UploadedFile = Annotated[FileStorage, PlainValidator(_uploaded),
                         WithJsonSchema({"type": "string", "format": "binary"})]
JSONObject = dict[str, Any]
Timestamp = Annotated[datetime, Field(description="ISO 8601 with offset")]

def _manifest_part(name: str) -> WithJsonSchema:
    """A procedure field copied from its manifest: documented by the manifest's own schema."""
    schema = dict(manifest_schema()["properties"][name])
    return WithJsonSchema(schema)


# ---------------------------------------------------------------- requests


class FormData(RootModel[JSONObject]):
    """Form data: an object checked against the procedure's own JSON schema (start form or task form) by the
    service, which answers 422 with a message per JSON pointer."""

    model_config = ConfigDict(strict=True, title="FormData")
    body_optional: ClassVar[bool] = False


class RefundBody(RequestModel):
    so_tien: int = Field(ge=1, title=N_("Số tiền hoàn"), description="Amount to refund, in đồng")
    ly_do: str = Field(title=N_("Lý do hoàn tiền"), description="Why (shown to the applicant)")


class WorkflowRetryBody(RequestModel):
    body_optional: ClassVar[bool] = True
    du_lieu: JSONObject | None = Field(default=None, title=N_("Dữ liệu bổ sung"),
                                       description="Values the failed condition needed, merged into the task data")


class SupplementComponent(RequestModel):
    code: str = Field(default="", max_length=40, title=N_("Mã thành phần"),
                      description="A component code of the procedure (its name is taken from the manifest)")
    name: str = Field(default="", max_length=500, title=N_("Tên giấy tờ"), description="Any other document")
    note: str = Field(default="", max_length=500, title=N_("Ghi chú"))


class SupplementBody(RequestModel):
    ly_do: str = Field(max_length=2000, title=N_("Lý do"))
    thanh_phan: list[SupplementComponent] = Field(min_length=1, max_length=50, title=N_("Thành phần cần bổ sung"))
    han_bo_sung: Annotated[date, Field(strict=False)] = Field(
        title=N_("Hạn bổ sung"), description="Local date (YYYY-MM-DD): the request ends at that day's closing time")


class SupplementAnswerBody(RequestModel):
    body_optional: ClassVar[bool] = True
    tep: dict[str, str] = Field(default_factory=dict, title=N_("Tệp bổ sung"), description=(
        "Uploaded files (references from POST /attachments) by the index of the requested component (\"0\", "
        "\"1\", …) or its code"))
    ghi_chu: str = Field(default="", max_length=2000, title=N_("Ghi chú"))
    tai_quay: bool = Field(default=False, title=N_("Nhận tại bộ phận một cửa"),
                           description="An officer records the supplement as received at the desk")


class ReasonBody(RequestModel):
    ly_do: str = Field(max_length=2000, title=N_("Lý do"))


class OptionalReasonBody(RequestModel):
    body_optional: ClassVar[bool] = True
    ly_do: str = Field(default="", max_length=2000, title=N_("Lý do"))


class ApologyBody(RequestModel):
    ly_do: str = Field(max_length=2000, title=N_("Lý do chậm trễ"))
    ngay_hen_moi: Annotated[date, Field(strict=False)] = Field(
        title=N_("Ngày hẹn trả kết quả mới"),
        description="Local date (YYYY-MM-DD), a working day after the current appointment: the result is promised "
                    "by that day's closing time")


class MessageBody(RequestModel):
    ten: str = Field(min_length=1, max_length=200, title=N_("Tên thông điệp"),
                     description="The bpmn:message name the diagram waits for")
    noi_dung: Any = Field(default=None, title=N_("Nội dung thông điệp"),
                          description="Any JSON value: what the catching step stores in its message variable")


class KeyedMessageBody(MessageBody):
    khoa: str = Field(min_length=1, max_length=500, title=N_("Giá trị khóa"),
                      description="The value of the correlation key procedure.json declares for this message")


class RatingBody(RequestModel):
    danh_gia: dict[str, int] = Field(title=N_("Đánh giá theo tiêu chí"),
                                     description="Each criterion (tong_the, thuan_tien, dung_han, thoi_gian, thai_do, "
                                                 "so_lan_lien_he, so_co_quan, cong_khai) → 1, 2 or 3")
    y_kien: str = Field(default="", max_length=2000, title=N_("Ý kiến khác"))


class ReturnBody(RequestModel):
    ly_do: str = Field(max_length=2000, title=N_("Lý do"))
    buoc: str | None = Field(default=None, max_length=255, title=N_("Bước trả về"),
                             description="Spec name of the earlier step (default: the nearest)")


class AssignBody(RequestModel):
    nguoi_nhan: int = Field(title=N_("Người nhận"), description="User id of an officer of the agency with the role")
    ly_do: str = Field(default="", max_length=2000, title=N_("Lý do"))


ListSort = Literal["due", "-due", "received", "-received", "code", "-code"]
IncidentSort = Literal["oldest", "newest", "code"]
IncidentKind = Literal["calls", "workflow", "sync", "refunds"]


class ListQueryModel(QueryModel):
    """A list's page and filters, as the web pages take them (app.dossiers.listings.ListQuery)."""

    page: int = Field(default=1, ge=1, le=10_000, title=N_("Trang"),
                      description="Page number; rows beyond the first 2,500 are reached with a narrower filter")
    size: int = Field(default=25, ge=1, le=100, title=N_("Số dòng mỗi trang"))
    procedure: str = Field(default="", max_length=64, title=N_("Thủ tục"), description="Procedure code")
    status: int | None = Field(default=None, ge=1, le=99, title=N_("Trạng thái"), description="Dossier status")
    due: Literal["overdue", "today", "week", "soon", "in_time"] | None = Field(
        default=None, title=N_("Hạn xử lý"), description="Due window, by the local calendar (the step's deadline, "
        "else the dossier's, for tasks); or by the remaining legal time: soon = due within 24 h, in_time = more "
        "than 24 h left")
    q: str = Field(default="", max_length=100, title=N_("Mã hồ sơ hoặc tên người nộp"),
                   description="Start of a dossier code, or part of the applicant's name (accents ignored in tasks)")


class TaskListQuery(ListQueryModel):
    sort: ListSort = Field(default="due", title=N_("Sắp xếp"),
                           description="due: step deadline, then the dossier's; received; code; '-' descending")
    officer: Literal["me", "free"] | None = Field(default=None, title=N_("Người xử lý"),
                                                  description="me: claimed by the caller; free: unclaimed")


class IncidentListQuery(ListQueryModel):
    sort: IncidentSort = Field(default="oldest", title=N_("Sắp xếp"))
    kind: IncidentKind | None = Field(default=None, title=N_("Loại sự cố"), description="Only this kind")


class IndicatorQuery(QueryModel):
    tu: Annotated[date, Field(strict=False)] = Field(title=N_("Từ ngày"), description="First day (local), included")
    den: Annotated[date, Field(strict=False)] = Field(title=N_("Đến ngày"), description="Last day (local), included")


class ProgressRow(ResponseModel):
    agency_id: int
    procedure_code: str
    received_online: int
    received_in_person: int
    carried_over: int
    finished_before: int
    finished_on_time: int
    finished_late: int
    finished: int
    on_time_rate: float | None = Field(description="(before + on time) / handled; null when nothing was handled")
    refused: int
    withdrawn: int
    open_in_time: int
    open_overdue: int
    paused: int
    received: int = Field(description="received_online + received_in_person")
    digitized: int = Field(description="Received in the period with every component held at reception digitized")
    digitization_rate: float | None = Field(description="digitized / received; null when nothing was received")
    received_reused: int = Field(description="Received in the period with a component taken from the applicant's "
                                             "document store (digitization indicator: reused components)")
    paid_online: int = Field(description="Dossiers whose fee was first paid online in the period")
    rated: int = Field(description="Ratings given in the period")
    rated_satisfied: int = Field(description="Of them, overall «hài lòng» or «rất hài lòng»")
    satisfaction_rate: float | None


class ProgressIndicators(ResponseModel):
    items: list[ProgressRow]


class DeployQuery(QueryModel):
    dry_run: bool = Field(default=False, title=N_("Chỉ kiểm tra"),
                          description="Only check the package, do not deploy it")


class DeployForm(RequestModel):
    files: list[UploadedFile] = Field(default_factory=list, title=N_("Tệp của gói thủ tục"),
                                      description="BPMN, procedure.json, *.schema.json, *.ui.json, or one zip")
    slug: str | None = Field(default=None, title=N_("Tên thư mục (slug)"))


class AttachmentForm(RequestModel):
    file: UploadedFile = Field(title=N_("Tệp"))
    field: str = Field(default="", title=N_("Trường của biểu mẫu"),
                       description="The form field (JSON pointer) the file is for")


# ---------------------------------------------------------------- errors


class ErrorBody(ResponseModel):
    code: str
    message: str
    details: dict[str, Any] = Field(description="JSON pointer (or a report's parts) → message")


class Error(ResponseModel):
    """Every error of the API."""

    error: ErrorBody


# ---------------------------------------------------------------- procedures


class AgencyRef(ResponseModel):
    code: str
    name: str


class Procedure(ResponseModel):
    code: str = Field(description="Procedure code (mã TTHC), e.g. 1.001193")
    name: str
    agency: AgencyRef
    agencies: list[AgencyRef] = Field(description="The agencies a dossier of it may be filed with: its own, then "
                                                  "those it is also published for (submit with `co_quan` when more "
                                                  "than one)")
    level: Annotated[str, _manifest_part("level")]
    version: int
    content_hash: str
    processing_time: Annotated[JSONObject, _manifest_part("processing_time")]
    fee: Annotated[JSONObject, _manifest_part("fee")]
    start_form: str
    components: Annotated[list[JSONObject], _manifest_part("components")]


class ProcedureList(ResponseModel):
    items: list[Procedure]


class ProcedureSearchQuery(QueryModel):
    q: str = Field(min_length=1, max_length=200, title=N_("Câu hỏi hoặc tên thủ tục"),
                   description="A plain question, a procedure's name or everyday name, or (the start of) its code; "
                               "accents, case and question words ignored")
    limit: int = Field(default=10, ge=1, le=50, title=N_("Số kết quả tối đa"))


class Highlight(ResponseModel):
    start: int = Field(description="Offset of a highlighted run in `text` (characters)")
    end: int


class MatchedText(ResponseModel):
    text: str = Field(description="A text of the field (a long description: the part around its first match)")
    highlights: list[Highlight] = Field(description="The runs of `text` that are words of the question")


class SearchMatch(ResponseModel):
    field: Literal["code", "name", "synonyms", "description", "components", "field"] = Field(
        description="Where the words were found: the code, name, everyday names (synonyms), description, "
                    "components or field (lĩnh vực) of the procedure")
    label: str = Field(description="The field's name, in the reader's language")
    words: list[str] = Field(description="The question's words found there, as the question spells them")
    texts: list[MatchedText] = Field(description="Up to three of the field's texts that hold them")


class Correction(ResponseModel):
    asked: str = Field(description="A word of the question no procedure has")
    read_as: str = Field(description="The closest word some procedure has, searched instead")


class SearchAnswer(ResponseModel):
    rank: int = Field(description="1 for the best answer")
    score: float = Field(description="BM25 score summed over the fields with their weights (higher is better)")
    explanation: str = Field(description="Why it matched, in one sentence in the reader's language")
    matches: list[SearchMatch]
    procedure: Procedure


class ProcedureSearchAnswers(ResponseModel):
    q: str
    corrections: list[Correction]
    items: list[SearchAnswer] = Field(description="The procedures that answer the question, best first")


class ProcedureDetail(Procedure):
    start_form_schema: JSONObject = Field(description="JSON schema of the start form (the body of a submission)")


class DeployedProcedure(Procedure):
    created: bool = Field(description="False when identical content was already deployed")


class PackageProblem(ResponseModel):
    file: str
    line: int | None
    pointer: str | None
    code: str
    message: str
    severity: str


class PackageConversion(ResponseModel):
    """A change the studio's «Áp dụng chuyển đổi» would make to another modeller's export (never applied here)."""

    file: str
    line: int | None
    code: str = Field(description="The problem it answers (foreign_form, no_executable_process, …)")
    message: str


class PackageReport(ResponseModel):
    verdict: Literal["deployable", "not_executable", "invalid"]
    reason: str | None
    problems: list[PackageProblem]
    conversions: list[PackageConversion] = Field(
        default_factory=list, description="Unambiguous mappings of other modellers' extensions the studio offers to "
                                          "apply (docs/designer-guide.md §15); the package itself is not changed")


# ---------------------------------------------------------------- tasks, calls, payments


class Task(ResponseModel):
    id: int
    title: str
    dossier_code: str
    lane: str
    role: str
    state: Literal["ready", "claimed", "completed", "cancelled", "held"]
    form: str | None
    claimed_by: int | None
    created_at: Timestamp
    due_at: Timestamp | None
    dossier_due_at: Timestamp
    legal_time: Literal["trong_han", "sap_het_han", "qua_han"] = Field(
        description="Remaining legal time of the step (its deadline, else the dossier's): in time, due within "
                    "24 h, overdue")


class PageInfo(ResponseModel):
    page: int
    size: int
    has_next: bool
    total: int = Field(description="How many rows match, counted up to 1,000")
    total_capped: bool = Field(description="True: more than `total` match")


class TaskList(ResponseModel):
    items: list[Task] = Field(description="One page of the caller's open tasks")
    paging: PageInfo


class Return(ResponseModel):
    task: str
    by: str
    at: Timestamp | None
    outcome: str
    reason: str | None


class TaskDetail(Task):
    form_schema: JSONObject
    previous_data: JSONObject | None = Field(description=(
        "When a return sent the dossier back to this step: what was submitted for it last time, less its decision "
        "and reason (ui:decision, ui:reason), which are taken afresh"))
    returned: Return | None


class CallError(ResponseModel):
    code: str
    message: str


class ServiceCall(ResponseModel):
    id: int
    dossier_code: str
    title: str
    operation: str
    state: Literal["pending", "waiting", "done", "caught", "failed", "cancelled"]
    stalled: bool
    attempts: int
    rounds: int
    error: CallError | None
    next_attempt_at: Timestamp | None
    created_at: Timestamp
    updated_at: Timestamp


class Payment(ResponseModel):
    id: int
    transaction_id: str
    amount: int
    state: Literal["pending", "paid", "cancelled", "refunded"]
    pay_url: str | None
    paid_at: Timestamp | None
    refunded_amount: int
    receipt_url: str | None


# ---------------------------------------------------------------- dossiers


class ProcedureRef(ResponseModel):
    code: str
    name: str


class _DossierStatus(ResponseModel):
    code: str = Field(description="<agency>-<YYMMDD>-<NNNN>")
    procedure: ProcedureRef
    agency: str
    status: int = Field(ge=1, le=10)
    status_label: str
    submitted_at: Timestamp
    received_at: Timestamp | None
    due_at: Timestamp
    finished_at: Timestamp | None
    returned_at: Timestamp | None
    current_steps: list[str]


class PublicDossier(_DossierStatus):
    """What anyone with the code may see."""

    applicant: str = Field(description="Initials only, e.g. N. V. A.")


class Applicant(ResponseModel):
    name: str
    id_number: str
    phone: str
    email: str
    address: str


class ReusedFrom(ResponseModel):
    """Where a component's file came from when the applicant chose it from their personal document store: the server
    resolved the choice, so this is a verified earlier result or digitized copy (portal: tai_su_dung)."""

    document_id: int = Field(description="Id of the document in the applicant's store")
    origin: Literal["result", "component"] = Field(
        description="`result`: an electronic result of that dossier; `component`: digitized when it was received")
    title: str
    dossier_code: str = Field(description="The dossier the document came from")


class ReceivedComponent(ResponseModel):
    code: str
    name: str
    copies: int | None
    uploaded: bool
    received: bool
    reused_from: ReusedFrom | None = Field(description="Taken from the applicant's document store (NULL: not)")


class PersonalDocument(ResponseModel):
    """A document of the caller's personal store (kho giấy tờ): an electronic result of one of their dossiers, or a
    component digitized when it was received. To use it in a new dossier, put `{"kho_giay_to": id}` as the value of
    a start-form file field whose component accepts its `kind` (submitDossier)."""

    id: int
    kind: str | None = Field(description="Document kind shared across procedures (manifest `kind` / "
                                         "`result_documents`); NULL: not offered to other forms")
    title: str
    origin: Literal["result", "component"]
    component_code: str | None
    dossier_code: str = Field(description="The dossier it came from")
    procedure: str
    agency: str
    issued_at: Timestamp
    valid_until: Timestamp | None
    state: Literal["valid", "revoked", "expired"] = Field(description="Only a valid document may be chosen")
    revoked_reason: str | None
    content_type: str
    size: int
    href: str = Field(description="Download (getAttachment)")


class PersonalDocuments(ResponseModel):
    documents: list[PersonalDocument]


class RevokeBody(RequestModel):
    ly_do: str = Field(min_length=1, max_length=2000, title=N_("Lý do thu hồi"))


class DeclaredResultField(ResponseModel):
    label: str
    value: str | int | float | bool


class DeclaredResult(ResponseModel):
    title: str
    agency: str = Field(description="The agency's name (a pool of an inter-agency procedure, by its agency)")
    fields: list[DeclaredResultField]


class ElectronicResult(ResponseModel):
    href: str = Field(description="GET it (getAttachment) with the same bearer token")
    content_type: str
    size: int
    sha256: str


class HistoryEntry(ResponseModel):
    at: Timestamp
    actor: str
    action: str
    task: str | None
    outcome: str | None
    status_from: int | None
    status_to: int | None
    note: str | None


class RequestedComponent(ResponseModel):
    code: str
    name: str
    note: str


class ReceivedSupplement(ResponseModel):
    code: str
    name: str
    reference: str | None


class Supplement(ResponseModel):
    id: int
    state: Literal["open", "answered", "expired", "cancelled"]
    reason: str
    components: list[RequestedComponent]
    requested_at: Timestamp
    deadline_at: Timestamp = Field(description="The applicant's deadline; unanswered by then, the dossier ends")
    answered_at: Timestamp | None
    channel: Literal["online", "desk", ""]
    received: list[ReceivedSupplement] | None


class OfficerLoad(ResponseModel):
    user_id: int
    name: str
    roles: list[str]
    claimed: int = Field(description="Open steps the officer holds")
    overdue: int = Field(description="Of which past their deadline")
    on_leave_until: date | None = Field(default=None, description="On leave now: the last day of the leave")


class LeaveBody(RequestModel):
    can_bo: int | None = Field(default=None, title=N_("Cán bộ nghỉ"),
                               description="User id of the officer on leave (default: oneself; another officer of "
                                           "the agency: the head of department only)")
    tu_ngay: Annotated[date, Field(strict=False)] = Field(title=N_("Từ ngày"), description="First day (YYYY-MM-DD)")
    den_ngay: Annotated[date, Field(strict=False)] = Field(title=N_("Đến ngày"),
                                                           description="Last day, included (YYYY-MM-DD)")
    nguoi_thay_the: int | None = Field(default=None, title=N_("Người thay thế"), description=(
        "User id of an officer of the same agency who takes the claimed steps (none: they go back to the pool)"))
    ly_do: str = Field(default="", max_length=2000, title=N_("Lý do"))


class Leave(ResponseModel):
    id: int
    officer_id: int
    officer_name: str
    starts_at: Timestamp = Field(description="Start of the first day")
    ends_at: Timestamp = Field(description="Start of the day after the last (back at work)")
    first_day: date
    last_day: date
    substitute_id: int | None
    substitute_name: str | None
    reason: str
    applied_at: Timestamp | None = Field(description="When the officer's claimed steps were moved (NULL: not yet)")


class LeaveCancelled(ResponseModel):
    leave: Leave | None = Field(description="The leave ended now (it was running), or NULL: deleted (not begun)")


class Leaves(ResponseModel):
    leaves: list[Leave]


class DataAccessQuery(QueryModel):
    page: int = Field(default=1, ge=1, le=10000, title=N_("Trang"), description="50 entries a page, newest first")


class DataAccess(ResponseModel):
    at: Timestamp
    action: Literal["lookup", "view"]
    what: str = Field(description="What was done, in the request's language")
    kind: str = Field(description="A look-up's operation (population.lookup_citizen …) or what was viewed (dossier, "
                                  "receipt, task, attachment, document, control_sheet, api_dossier, api_task)")
    by: str = Field(description="The officer's name; «You» for the caller's own look-ups; the platform's automatic "
                                "steps otherwise")
    own: bool
    agency: str = Field(description="The agency on whose behalf it was done")
    reason: str = Field(description="A look-up's purpose as recorded, or the dossier handled")
    dossier_code: str | None
    outcome: str | None = Field(description="A look-up's outcome (ok, not_found, unavailable…); NULL for a view")


class DataAccessLog(ResponseModel):
    items: list[DataAccess]
    page: int
    more: bool = Field(description="There is a next page")


class Holding(ResponseModel):
    officer_id: int | None = Field(description="NULL: in the role's pool")
    officer_name: str
    held_from: Timestamp
    held_until: Timestamp
    late_hours: str = Field(description="Working hours of this holding past the step's due time (decimal)")


class StepLateness(ResponseModel):
    task_id: int
    title: str
    spec_name: str
    lane: str
    due_at: Timestamp | None
    done_at: Timestamp | None = Field(description="NULL: still open")
    verdict: Literal["truoc_han", "dung_han", "qua_han", "trong_han", ""]
    late_hours: str = Field(description="Working hours past the due time (to now for an open step; decimal)")
    holdings: list[Holding]


class DossierSteps(ResponseModel):
    steps: list[StepLateness]


class DepartmentLoad(ResponseModel):
    officers: list[OfficerLoad]
    waiting: dict[str, int] = Field(description="Open steps nobody holds, by role")
    tasks: list[Task]


class Dossier(_DossierStatus):
    """A dossier as its applicant and its agency see it."""

    applicant: Applicant
    channel: int = Field(description="1 in person, 2 online, 3 by post")
    fee_amount: int
    summary: str
    procedure_version: int
    data: JSONObject
    tasks: list[Task]
    service_calls: list[ServiceCall]
    payments: list[Payment]
    components_received: list[ReceivedComponent]
    results: list[ElectronicResult] = Field(description="The electronic result the last step attached (ui:result); "
                                                        "the applicant's once it is handed back (status 10)")
    declared_results: list[DeclaredResult] = Field(
        description="What procedure.json `results` tells the applicant once the result is ready (status 9): per "
                    "result, its title, the agency that produced it and its labelled values (an inter-agency "
                    "procedure: one per agency)")
    history: list[HistoryEntry]
    supplements: list[Supplement]


WorkflowNotice = Annotated[str | None, Field(
    description="Set when the step was saved but the workflow then stopped on an engine error")]


class IssuedDocument(ResponseModel):
    """A document issued about a dossier (Thông tư 01/2018/TT-VPCP, mẫu 01–05), as recorded when issued."""

    id: int
    kind: Literal["receipt", "supplement", "refusal", "apology", "control"] = Field(
        description="receipt: Giấy tiếp nhận hồ sơ và hẹn trả kết quả; supplement: Phiếu yêu cầu bổ sung, hoàn "
                    "thiện hồ sơ; refusal: Phiếu từ chối tiếp nhận, giải quyết hồ sơ; apology: Phiếu xin lỗi và hẹn "
                    "lại ngày trả kết quả; control: Phiếu kiểm soát quá trình giải quyết hồ sơ")
    title: str
    sequence: int = Field(description="The n-th document of this kind for the dossier")
    number: str = Field(description="The number printed on it, e.g. 01/GTN")
    issued_at: Timestamp
    issued_by: str
    href: str = Field(description="Its PDF: GET /api/v1/dossiers/{code}/documents/{document_id}")


class IssuedDocuments(ResponseModel):
    documents: list[IssuedDocument]
    control_sheet_href: str | None = Field(
        description="The control sheet as the dossier stands now (the dossier's agency only)")


class Rating(ResponseModel):
    channel: Literal["online", "desk"]
    answers: dict[str, int]
    comment: str
    created_at: Timestamp


class DeliveredMessages(ResponseModel):
    dossiers: list[DossierState] = Field(description="Where each dossier that took the message now stands")


class DossierState(_DossierStatus):
    """Where a dossier stands after a command: status, dates and open steps. The whole dossier (data, history,
    service calls, payments) is at `href`, read when it is wanted rather than with every command's answer."""

    href: str = Field(description="The dossier: GET /api/v1/dossiers/{code}")
    tasks: list[Task]


class SubmittedDossier(DossierState):
    workflow_error: WorkflowNotice


class Completed(ResponseModel):
    task: Task
    dossier: DossierState
    workflow_error: WorkflowNotice


class SupplementAnswer(ResponseModel):
    supplement: Supplement
    dossier: DossierState


class TaskMoved(ResponseModel):
    """A desk action on a task: the task as it now is (for a return, the earlier step re-opened) and its dossier."""

    task: Task
    dossier: DossierState


class Apology(ResponseModel):
    """An apology with a new date (Phiếu xin lỗi và hẹn lại ngày trả kết quả): the applicant's appointment moved
    (the dossier's `due_at` is now the new date); the statutory deadline lateness is judged by did not."""

    at: Timestamp
    reason: str
    old_due_at: Timestamp
    new_due_at: Timestamp
    dossier: DossierState


# ---------------------------------------------------------------- incidents


class PortalSyncProblem(ResponseModel):
    dossier_code: str
    outbox_id: int
    kind: Literal["dossier", "step"]
    attempts: int
    error: str | None
    refused: bool
    since: Timestamp


class StalledRefund(ResponseModel):
    id: int
    dossier_code: str
    transaction_id: str
    amount: int | None = Field(description="None: whatever is left of the payment")
    reason: str
    requested_at: Timestamp


class WorkflowIncident(ResponseModel):
    id: int
    dossier_code: str
    task: str
    spec_name: str
    code: str
    message: str
    state: Literal["open", "resolved"]
    attempts: int
    since: Timestamp


class IncidentPaging(ResponseModel):
    """Each kind's page; null for a kind not asked for (`kind`)."""

    calls: PageInfo | None
    sync: PageInfo | None
    refunds: PageInfo | None
    workflow: PageInfo | None


class Incidents(ResponseModel):
    items: list[ServiceCall] = Field(description="Service calls that failed with nothing to catch the error, or "
                                     "stalled")
    portal_sync: list[PortalSyncProblem]
    refunds: list[StalledRefund]
    workflow: list[WorkflowIncident]
    paging: IncidentPaging


class RefundQueued(ResponseModel):
    id: int
    state: str


class SyncQueued(ResponseModel):
    dossier_code: str
    queued: bool


class StoredAttachment(ResponseModel):
    reference: str = Field(description="What to put in the form data for the field")
    filename: str
    size: int
    sha256: str
    content_type: str


class OpenAPIDocument(RootModel[JSONObject]):
    """This document."""


class DeployAnswer(RootModel[DeployedProcedure | PackageReport]):
    """A deployment that changed nothing, or the report of a dry run."""


class DeployRefusal(RootModel[Error | PackageReport]):
    """A package that cannot be deployed: its report (dry run) or an error holding it."""


# ---------------------------------------------------------------- versions (designers)


class VersionInfo(ResponseModel):
    version: int
    content_hash: str
    deployed_at: Timestamp
    deployed_by: str
    current: bool = Field(description="New dossiers start on this version")
    retired: bool = Field(description="Retired: starts no new dossier; its running dossiers go on")
    retired_at: Timestamp | None
    package_href: str = Field(description="Download of the version's package (zip)")


class VersionList(ResponseModel):
    code: str
    current_version: int | None = Field(description="None: the procedure accepts no new dossier")
    items: list[VersionInfo]


class CompareQuery(QueryModel):
    from_: int = Field(alias="from", ge=1, le=2**31 - 1, title=N_("Từ phiên bản"))
    to: int = Field(ge=1, le=2**31 - 1, title=N_("Sang phiên bản"))


class DiagramElement(ResponseModel):
    id: str
    type: str = Field(description="BPMN element, e.g. userTask")
    name: str


class ChangedElement(DiagramElement):
    old_name: str
    old_type: str
    changes: list[str] = Field(description="name, type, properties, condition, script, source, target, "
                                           "nodes (a lane's), other")


class DiagramDiff(ResponseModel):
    added: list[DiagramElement]
    removed: list[DiagramElement]
    changed: list[ChangedElement]


class FieldRef(ResponseModel):
    pointer: str = Field(description="JSON pointer of the field in the form's data")
    title: str


class ChangedField(FieldRef):
    keywords: list[str] = Field(description="The JSON-schema keywords that differ (required: its required-ness)")


class FieldsDiff(ResponseModel):
    added: list[FieldRef]
    removed: list[FieldRef]
    changed: list[ChangedField]


class FormDiff(ResponseModel):
    form: str
    state: Literal["added", "removed", "changed"]
    fields: FieldsDiff


class ManifestChange(ResponseModel):
    pointer: str
    old: Any
    new: Any


class VersionComparison(ResponseModel):
    from_: int = Field(alias="from")
    to: int
    diagram: DiagramDiff
    forms: list[FormDiff]
    manifest: list[ManifestChange]


class RetiredVersion(ResponseModel):
    version: int
    retired_at: Timestamp
    current_version: int | None = Field(description="The version new dossiers now start on (None: none)")


class MyDocumentsQuery(QueryModel):
    loai: str = Field(default="", max_length=64, title=N_("Loại giấy tờ"),
                      description="Only documents of this kind (e.g. `giay_khai_sinh`); empty: every kind")
    con_hieu_luc: bool = Field(default=False, title=N_("Chỉ giấy tờ còn hiệu lực"),
                               description="Only documents that may be chosen (neither revoked nor expired)")


class SubmitQuery(QueryModel):
    co_quan: str = Field(default="", max_length=40, title=N_("Cơ quan tiếp nhận"),
                         description="For a procedure published for several agencies: the QCVN 102 identifier of "
                                     "the agency chosen (GET /procedures lists them); not needed for one agency")


class MoveQuery(QueryModel):
    to: int = Field(ge=1, le=2**31 - 1, title=N_("Sang phiên bản"))
    dry_run: bool = Field(default=True, title=N_("Chỉ chạy thử"),
                          description="List where each dossier would land, move nothing (the default)")


class MoveObstacle(ResponseModel):
    code: str
    message: str
    step: str


class DossierMove(ResponseModel):
    dossier: str = Field(description="Dossier code")
    status: str
    steps: list[str] = Field(description="Its open steps (after a move: on the new version)")
    landing: list[str] = Field(description="Where it stands on the target version (steps, then service calls)")
    movable: bool
    incident: bool = Field(description="It was stopped on an engine error (open workflow incident)")
    repaired: bool = Field(description="Its failed engine tasks ran again successfully on the target version")
    moved: bool
    obstacles: list[MoveObstacle]


class VersionMoves(ResponseModel):
    from_: int = Field(alias="from")
    to: int
    dry_run: bool
    items: list[DossierMove]


# ---------------------------------------------------------------- administration (app.administration)


class AdminAgencyQuery(QueryModel):
    q: str = Field(default="", max_length=100, title=N_("Tìm"), description="Part of the name, or start of the code")
    parent: int | None = Field(default=None, ge=1, le=2**31 - 1, title=N_("Cơ quan cấp trên"),
                               description="Id of the parent agency: its children (neither: the top level)")


class AdminAgency(ResponseModel):
    id: int
    code: str = Field(description="QCVN 102:2016 identifier")
    name: str
    level: str = Field(description="bo | tinh | xa")
    parent_id: int | None
    unit_code: str | None = Field(description="Administrative unit served (vietnam-provinces code)")
    code_provisional: bool = Field(description="Identifier derived by `flask agencies load`, not yet confirmed")
    address: str
    office_hours: list[list[str]] | None


class AdminAgencies(ResponseModel):
    items: list[AdminAgency]


class OfficerDepartmentBody(RequestModel):
    department_id: int = Field(ge=1, le=2**31 - 1, title=N_("Phòng ban"),
                               description="Id of the department the officer now sits in (of any agency)")


class OfficerRolesBody(RequestModel):
    roles: list[str] = Field(max_length=20, title=N_("Vai trò"), description="Role codes the officer holds now")


class AdminOfficer(ResponseModel):
    id: int
    username: str
    full_name: str
    agency_id: int | None
    department_id: int | None
    roles: list[str]
    released_task_ids: list[int] = Field(description="Steps the officer held and may no longer take: back in their "
                                                     "role's common inbox")


class Publication(ResponseModel):
    code: str
    agencies: list[AgencyRef] = Field(description="Its own agency first, then those it is also published for")


class AgencyBody(RequestModel):
    code: str = Field(max_length=40, title=N_("Mã định danh"), description="QCVN 102:2016 identifier")
    name: str = Field(max_length=255, title=N_("Tên cơ quan"))
    level: str = Field(max_length=8, title=N_("Cấp"), description="bo | tinh | xa")
    address: str = Field(default="", max_length=255, title=N_("Địa chỉ"))
    office_hours: str = Field(default="", max_length=200, title=N_("Giờ làm việc"),
                              description="e.g. `07:00-11:30, 13:30-17:00`; empty: the national office hours")
    parent: str = Field(default="", max_length=40, title=N_("Cơ quan cấp trên"),
                        description="QCVN 102 identifier of the parent agency; empty: none")


class DepartmentBody(RequestModel):
    name: str = Field(max_length=255, title=N_("Tên phòng ban"))


class AdminDepartment(ResponseModel):
    id: int
    agency_id: int
    name: str


class CalendarDayBody(RequestModel):
    day: Annotated[date, Field(strict=False)] = Field(title=N_("Ngày"), description="YYYY-MM-DD")
    working: bool = Field(title=N_("Làm việc"), description="true: an extra working day; false: an extra day off")
    note: str = Field(default="", max_length=255, title=N_("Ghi chú"))


class AdminCalendarDay(ResponseModel):
    id: int
    agency_id: int | None
    day: date
    working: bool
    note: str


class ApiClientBody(RequestModel):
    name: str = Field(max_length=255, title=N_("Tên hệ thống"))
    scopes: list[str] = Field(max_length=2, title=N_("Quyền"), description="`api:read` (GET) and/or `api:write`")
    agency: str = Field(default="", max_length=40, title=N_("Cơ quan được thay mặt"),
                        description="QCVN 102 identifier of the agency the client acts for; empty: none")
    roles: list[str] = Field(default_factory=list, max_length=20, title=N_("Vai trò"),
                             description="Officer role codes of its service account in that agency")


class AdminApiClient(ResponseModel):
    id: int
    client_id: str
    name: str
    scopes: list[str]
    agency_code: str | None
    roles: list[str]
    created_at: datetime
    revoked_at: datetime | None


class AdminApiClients(ResponseModel):
    items: list[AdminApiClient]


class IssuedApiClient(AdminApiClient):
    client_secret: str = Field(description="Shown in this answer only: the platform keeps only its SHA-256")
