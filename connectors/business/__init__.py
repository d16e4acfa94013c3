"""National business registry: look an enterprise up by its enterprise/tax code."""

from __future__ import annotations

import re
from typing import Any

from connectors.base import HttpClient, PermanentError
from connectors.registry import Operation

PROVIDER = "business"
_CODE = re.compile(r"^[0-9]{10}(-[0-9]{3})?$")

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
        if not _CODE.match(ma_so_thue):
            raise PermanentError(PROVIDER, "invalid_tax_code",
                                 "Mã số doanh nghiệp gồm 10 chữ số (đơn vị phụ thuộc: 10 chữ số, gạch nối, 3 chữ số).")
        result: dict[str, Any] = self.client.request("GET", f"/doanh-nghiep/{ma_so_thue}")
        return result

    def operations(self) -> list[Operation]:
        return [Operation(f"{PROVIDER}.lookup_enterprise", "Tra cứu doanh nghiệp theo mã số thuế",
                          LOOKUP_PARAMS, LOOKUP_RESULT, self.lookup_enterprise)]
