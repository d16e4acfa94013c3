"""Demo data for the embedded mode and the tests: the agencies of phường Ba Đình, their officers and an
administrator. `flask agencies load` puts them under their province with every other unit's People's Committee."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from app.accounts import set_password
from app.extensions import db
from app.models import Agency, Department, User

DEMO_PASSWORD = "demo123"  # noqa: S105 - demo accounts of the embedded mode, printed by the run command

BA_DINH = "00004"  # the unit code of phường Ba Đình (vietnam-provinces), which the three agencies serve
AGENCIES = [
    ("000.00.01.H26", "UBND phường Ba Đình, thành phố Hà Nội", "xa", "ubnd"),
    ("000.00.02.H26", "Công an phường Ba Đình, thành phố Hà Nội", "xa", "cong_an"),
    # The social-insurance office of the inter-agency birth bundle (bpmn/lien-thong-khai-sinh).
    ("000.00.03.H26", "Bảo hiểm xã hội cơ sở Ba Đình, thành phố Hà Nội", "xa", "bhxh"),
]
# agency code, department, the usernames sitting in it
DEPARTMENTS = [
    ("000.00.01.H26", "Bộ phận một cửa", ["tiepnhan", "traketqua"]),
    ("000.00.01.H26", "Phòng Tư pháp - Hộ tịch", ["hotich", "truongphong"]),
]

# username, full name, agency code (None = no agency), roles, personal id (how single sign-on finds the user: the
# demo identity provider of sandbox/identity.py asserts the same numbers)
USERS = [
    ("tiepnhan", "Nguyễn Thị Tiếp", "000.00.01.H26", ["tiep_nhan"], "001188001001"),
    ("hotich", "Trần Văn Hộ", "000.00.01.H26", ["chuyen_vien"], "001082001002"),
    ("chutich", "Lê Minh Chủ", "000.00.01.H26", ["lanh_dao_ky"], "001075001003"),
    ("traketqua", "Phạm Thu Trả", "000.00.01.H26", ["tra_ket_qua"], "001190001004"),
    ("truongphong", "Bùi Thị Phòng", "000.00.01.H26", ["lanh_dao_phong"], "001180001005"),  # head of department
    ("ca.tiepnhan", "Đỗ Văn Nhận", "000.00.02.H26", ["tiep_nhan", "tra_ket_qua"], "001087001006"),
    ("ca.cutru", "Vũ Thị Cư", "000.00.02.H26", ["chuyen_vien"], "001192001007"),
    ("ca.truong", "Hoàng Văn Trưởng", "000.00.02.H26", ["lanh_dao_ky"], "001078001008"),
    ("bhxh.the", "Lương Thị Thẻ", "000.00.03.H26", ["tiep_nhan", "chuyen_vien", "tra_ket_qua"], "001191001009"),
    ("thietke", "Ngô Thiết Kế", None, ["thiet_ke"], "001089001010"),
    ("congdan", "Nguyễn Văn An", None, ["cong_dan"], "001090012345"),
    # The break-glass administrator: the one account that logs in with a password when single sign-on is the way in.
    ("quantri", "Đặng Văn Trị", None, ["quan_tri"], None),  # also the administration area (/quan-tri)
]


# As the identity provider would assert them; the demo citizen matches the demo population database.
DATES_OF_BIRTH = {"congdan": date(1990, 5, 12)}


def seed_demo() -> list[tuple[str, str, str]]:
    """Idempotent: creates what is missing, returns (username, full name, roles) of every demo user."""
    agencies = {}
    for code, name, level, kind in AGENCIES:
        agency = db.session.scalar(select(Agency).where(Agency.code == code))
        if agency is None:
            agency = Agency(code=code, name=name, level=level, kind=kind, unit_code=BA_DINH)
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
        elif personal_id and not user.personal_id:  # seeded before the officers had their personal IDs
            user.personal_id = personal_id
        out.append((username, full_name, ", ".join(roles)))
    db.session.flush()
    for agency_code, name, usernames in DEPARTMENTS:
        agency_id = agencies[agency_code].id
        department = db.session.scalar(select(Department).where(Department.agency_id == agency_id,
                                                                Department.name == name))
        if department is None:
            department = Department(agency_id=agency_id, name=name)
            db.session.add(department)
            db.session.flush()
            for member in db.session.scalars(select(User).where(User.username.in_(usernames))):
                member.department_id = department.id
    db.session.flush()
    return out
