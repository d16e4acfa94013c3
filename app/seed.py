"""Demo data for the embedded mode and the tests: two commune agencies and their officers."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from app.accounts import set_password
from app.extensions import db
from app.models import Agency, User

DEMO_PASSWORD = "demo123"  # noqa: S105 - demo accounts of the embedded mode, printed by the run command

AGENCIES = [
    ("000.00.01.H26", "UBND phường Ba Đình, thành phố Hà Nội", "xa"),
    ("000.00.02.H26", "Công an phường Ba Đình, thành phố Hà Nội", "xa"),
    # The social-insurance office of the inter-agency birth bundle (bpmn/lien-thong-khai-sinh).
    ("000.00.03.H26", "Bảo hiểm xã hội cơ sở Ba Đình, thành phố Hà Nội", "xa"),
]

# username, full name, agency code (None = no agency), roles, personal id
USERS = [
    ("tiepnhan", "Nguyễn Thị Tiếp", "000.00.01.H26", ["tiep_nhan"], None),
    ("hotich", "Trần Văn Hộ", "000.00.01.H26", ["chuyen_vien"], None),
    ("chutich", "Lê Minh Chủ", "000.00.01.H26", ["lanh_dao_ky"], None),
    ("traketqua", "Phạm Thu Trả", "000.00.01.H26", ["tra_ket_qua"], None),
    ("truongphong", "Bùi Thị Phòng", "000.00.01.H26", ["lanh_dao_phong"], None),  # head of department
    ("ca.tiepnhan", "Đỗ Văn Nhận", "000.00.02.H26", ["tiep_nhan", "tra_ket_qua"], None),
    ("ca.cutru", "Vũ Thị Cư", "000.00.02.H26", ["chuyen_vien"], None),
    ("ca.truong", "Hoàng Văn Trưởng", "000.00.02.H26", ["lanh_dao_ky"], None),
    ("bhxh.the", "Lương Thị Thẻ", "000.00.03.H26", ["tiep_nhan", "chuyen_vien", "tra_ket_qua"], None),
    ("thietke", "Ngô Thiết Kế", None, ["thiet_ke"], None),
    ("congdan", "Nguyễn Văn An", None, ["cong_dan"], "001090012345"),
]


# As the identity provider would assert them; the demo citizen matches the demo population database.
DATES_OF_BIRTH = {"congdan": date(1990, 5, 12)}


def seed_demo() -> list[tuple[str, str, str]]:
    """Idempotent: creates what is missing, returns (username, full name, roles) of every demo user."""
    agencies = {}
    for code, name, level in AGENCIES:
        agency = db.session.scalar(select(Agency).where(Agency.code == code))
        if agency is None:
            agency = Agency(code=code, name=name, level=level)
            db.session.add(agency)
        agencies[code] = agency
    db.session.flush()
    out = []
    for username, full_name, agency_code, roles, personal_id in USERS:
        user = db.session.scalar(select(User).where(User.username == username))
        if user is None:
            user = User(username=username, full_name=full_name, roles=roles, personal_id=personal_id,
                        agency_id=agencies[agency_code].id if agency_code else None,
                        date_of_birth=DATES_OF_BIRTH.get(username))
            set_password(user, DEMO_PASSWORD)
            db.session.add(user)
        out.append((username, full_name, ", ".join(roles)))
    db.session.flush()
    return out
