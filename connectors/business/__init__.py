"""National business registry: look an enterprise up by its enterprise/tax code."""

from __future__ import annotations

from typing import Any

from app.identifiers import IdentifierError, validate_tax_code
from connectors.base import HttpClient, PermanentError
from connectors.registry import Operation

PROVIDER = "business"

LOOKUP_PARAMS = {
    "type": "object",
    "required": ["ma_so_thue"],
    "properties": {"ma_so_thue": {"type": "string", "pattern": "^[0-9]{10}(-[0-9]{3})?$"}},
    "additionalProperties": False,
}
LOOKUP_RESULT = {
    "type": "object",
    "required": ["ma_so_thue", "ten"],
    "properties": {"ma_so_thue": {"type": "string"}, "ten": {"type": "string"}},
}


class BusinessConnector:
    def __init__(self, client: HttpClient) -> None:
        self.client = client

    def lookup_enterprise(self, ma_so_thue: str) -> dict[str, Any]:
        try:
            ma_so_thue = validate_tax_code(ma_so_thue)
        except IdentifierError as exc:
            raise PermanentError(PROVIDER, exc.code, exc.message) from exc
        result: dict[str, Any] = self.client.request("GET", f"/doanh-nghiep/{ma_so_thue}")
        return result

    def operations(self) -> list[Operation]:
        return [Operation(f"{PROVIDER}.lookup_enterprise", "Tra cứu doanh nghiệp theo mã số thuế",
                          LOOKUP_PARAMS, LOOKUP_RESULT, self.lookup_enterprise)]
