"""Connectors against the demo national services over real HTTP, including injected faults."""

from __future__ import annotations

import pytest
import requests

from connectors import build_registry
from connectors.base import PermanentError, TransientError

DEMO = {"so_dinh_danh": "001090012345", "ho_ten": "Nguyễn Văn An", "ngay_sinh": "1990-05-12"}


@pytest.fixture()
def registry(sandbox):
    requests.delete(f"{sandbox}/_faults", timeout=5)
    requests.delete(f"{sandbox}/_log", timeout=5)
    settings = {"POPULATION_URL": sandbox, "POPULATION_TOKEN": "sandbox-test-token", "BUSINESS_URL": sandbox,
                "BUSINESS_TOKEN": "sandbox-test-token", "CONNECTOR_TIMEOUT": 0.5, "CONNECTOR_ATTEMPTS": 3}
    return build_registry(settings)


def calls(sandbox, prefix):
    return [r for r in requests.get(f"{sandbox}/_log", timeout=5).json()["requests"] if r["path"].startswith(prefix)]


def test_lookup_citizen_and_enterprise(registry, sandbox):
    assert registry.ids() == ["business.lookup_enterprise", "population.lookup_citizen"]
    citizen = registry.call("population.lookup_citizen", DEMO)
    assert citizen["ho_ten"] == "Nguyễn Văn An" and citizen["vo_chong"]["so_dinh_danh"] == "001195012346"
    enterprise = registry.call("business.lookup_enterprise", {"ma_so_thue": "0109090121"})
    assert enterprise["nguoi_dai_dien_phap_luat"]["ho_ten"] == "Nguyễn Văn An"


def test_mismatch_is_permanent_and_not_retried(registry, sandbox):
    with pytest.raises(PermanentError) as info:
        registry.call("population.lookup_citizen", {**DEMO, "ho_ten": "Nguyễn Văn Bình"})
    assert info.value.code == "khong_tim_thay"
    assert len(calls(sandbox, "/dan-cu")) == 1
    with pytest.raises(PermanentError) as info:
        registry.call("population.lookup_citizen", {**DEMO, "so_dinh_danh": "12345"})
    assert info.value.code == "invalid_params"  # refused before anything left
    assert len(calls(sandbox, "/dan-cu")) == 1


def test_5xx_then_success(registry, sandbox):
    requests.post(f"{sandbox}/_faults", json={"path_prefix": "/dan-cu", "mode": "error", "status": 503, "count": 2},
                  timeout=5)
    assert registry.call("population.lookup_citizen", DEMO)["so_dinh_danh"] == DEMO["so_dinh_danh"]
    assert len(calls(sandbox, "/dan-cu")) == 3


def test_timeouts_exhaust_retries(registry, sandbox):
    requests.post(f"{sandbox}/_faults", json={"path_prefix": "/doanh-nghiep", "mode": "timeout", "delay_ms": 800,
                                              "count": 3}, timeout=5)
    with pytest.raises(TransientError) as info:
        registry.call("business.lookup_enterprise", {"ma_so_thue": "0109090121"})
    assert info.value.code == "timeout"


def test_identifiers_are_checked_before_calling_out(registry, sandbox):
    # Well-formed (12 digits) but its century/year digits cannot belong to someone born in 1990.
    with pytest.raises(PermanentError) as info:
        registry.call("population.lookup_citizen", {**DEMO, "so_dinh_danh": "001295012345"})
    assert info.value.code.startswith("personal_id")
    with pytest.raises(PermanentError) as info:
        registry.call("business.lookup_enterprise", {"ma_so_thue": "0109090122"})  # wrong check digit
    assert "tax" in info.value.code
    assert calls(sandbox, "/dan-cu") == [] and calls(sandbox, "/doanh-nghiep") == []
