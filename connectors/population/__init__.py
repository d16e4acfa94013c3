"""National population database (CSDLQG về dân cư): look a citizen up by personal ID + name + birth date."""

from __future__ import annotations

from datetime import date
from typing import Any

from app.identifiers import validate_personal_id
from connectors.base import HttpClient, PermanentError
from connectors.registry import Operation

PROVIDER = "population"

LOOKUP_PARAMS = {
    "type": "object",
    "required": ["so_dinh_danh", "ho_ten"],
    "properties": {
        "so_dinh_danh": {"type": "string", "pattern": "^[0-9]{12}$"},
        "ho_ten": {"type": "string", "minLength": 2, "maxLength": 100},
        "ngay_sinh": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"},
        # Forms such as the birth registration ask only the parents' year of birth.
        "nam_sinh": {"type": "integer", "minimum": 1900, "maximum": 2100},
    },
    "oneOf": [{"required": ["ngay_sinh"]}, {"required": ["nam_sinh"]}],
    "additionalProperties": False,
}
LOOKUP_RESULT = {
    "type": "object",
    "required": ["so_dinh_danh", "ho_ten", "ngay_sinh", "gioi_tinh"],
    "properties": {"so_dinh_danh": {"type": "string"}, "ho_ten": {"type": "string"},
                   "ngay_sinh": {"type": "string"}, "gioi_tinh": {"type": "string"}},
}


class PopulationConnector:
    def __init__(self, client: HttpClient) -> None:
        self.client = client

    def lookup_citizen(self, so_dinh_danh: str, ho_ten: str, ngay_sinh: str | None = None,
                       nam_sinh: int | None = None) -> dict[str, Any]:
        """By personal ID and name, with the date of birth or, failing that, the year of birth."""
        # A number that cannot belong to this person is refused here, without spending a registry call.
        try:
            born = date.fromisoformat(ngay_sinh) if ngay_sinh else date(int(nam_sinh or 0), 1, 1)
            validate_personal_id(so_dinh_danh, born)
        except ValueError as exc:
            message = getattr(exc, "message", "Ngày sinh không hợp lệ.")
            raise PermanentError(PROVIDER, getattr(exc, "code", "invalid_id"), message) from exc
        body: dict[str, Any] = {"so_dinh_danh": so_dinh_danh, "ho_ten": ho_ten}
        if ngay_sinh:
            body["ngay_sinh"] = ngay_sinh
        else:
            body["nam_sinh"] = nam_sinh
        result: dict[str, Any] = self.client.request("POST", "/dan-cu/tra-cuu", json=body)
        return result

    def operations(self) -> list[Operation]:
        return [Operation(f"{PROVIDER}.lookup_citizen", "Tra cứu công dân theo số định danh, họ tên, ngày sinh",
                          LOOKUP_PARAMS, LOOKUP_RESULT, self.lookup_citizen)]
