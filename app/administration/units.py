"""The agencies of the two-tier local government (since 1/7/2025: 34 provinces, 3,321 communes and wards),
loaded from the maintained list of administrative units (PyPI ``vietnam-provinces``).

Each unit gets its People's Committee as an agency (kind "ubnd"), found again by its unit code on the next load,
so loading twice changes nothing and an agency an administrator renamed or re-coded keeps its name and code.

QCVN 102:2016 identifiers are assigned by each province and are not part of the list of units, so the loader
derives a provisional one (``code_provisional``) that an administrator confirms or corrects in the
administration area:
- province: ``000.00.00.`` + the province's level-1 code, ``H`` + two digits — from PROVINCE_IDENTIFIERS where
  the platform knows it (Hà Nội H26, the code of the demo agencies), else ``H`` + the unit's two-digit code;
- commune: the unit's five-digit code as the first two groups, ``00`` as the third, then the province's level-1
  code: phường Hoàn Kiếm (00070) of Hà Nội → ``000.70.00.H26``.
A derived identifier already held by another agency is left to the administrator (the unit is reported, not
loaded). Agencies that already serve a unit (the demo agencies of phường Ba Đình) are put under its province.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from vietnam_provinces import Province, Ward

from app.administration.changes import record_change
from app.extensions import db
from app.models import Agency, User

# Level-1 QCVN 102 codes the platform knows, by the unit code of the province; the others are provisional.
PROVINCE_IDENTIFIERS: dict[str, str] = {"01": "H26"}
UNIT_GOVERNMENT = "ubnd"


@dataclass
class LoadReport:
    provinces: int = 0
    communes: int = 0
    created: int = 0
    attached: int = 0  # existing agencies put under their province
    clashes: list[str] = field(default_factory=list)  # units whose derived identifier another agency holds


def province_identifier(province_code: str) -> str:
    return f"000.00.00.{PROVINCE_IDENTIFIERS.get(province_code, 'H' + province_code)}"


def commune_identifier(ward_code: str, province_code: str) -> str:
    level1 = PROVINCE_IDENTIFIERS.get(province_code, "H" + province_code)
    return f"{ward_code[:3]}.{ward_code[3:]}.00.{level1}"


def _kind_word(division_type: object) -> str:
    """The word names carry: "thành phố" for a centrally governed city (its name reads "Thành phố Hà Nội")."""
    word = str(getattr(division_type, "value", "") or "")
    return "thành phố" if word == "thành phố trung ương" else word


def _short(name: str, word: str) -> str:
    """"Phường Ba Đình" → "Ba Đình"; "Thành phố Hà Nội" → "Hà Nội"; "Cao Bằng" stays."""
    return name[len(word):].strip() if word and name.lower().startswith(word.lower()) else name


def province_agency_name(province: Province) -> str:
    word = _kind_word(province.division_type)
    return f"UBND {word} {_short(province.name, word)}".strip()


def commune_agency_name(ward: Ward, province: Province) -> str:
    word, pword = _kind_word(ward.division_type), _kind_word(province.division_type)
    return f"UBND {word} {_short(ward.name, word)}, {pword} {_short(province.name, pword)}"


def load_units(actor: User | None = None) -> LoadReport:
    """Create what is missing, in the caller's transaction (the caller commits); one change record per load."""
    report = LoadReport()
    existing = {a.code: a for a in db.session.scalars(select(Agency))}
    governments = {a.unit_code: a for a in existing.values() if a.kind == UNIT_GOVERNMENT and a.unit_code}
    provinces: dict[str, tuple[Province, Agency]] = {}
    for province in Province.iter_all():
        code = f"{int(province.code):02d}"
        report.provinces += 1
        agency = governments.get(code)
        if agency is None:
            identifier = province_identifier(code)
            if identifier in existing:
                report.clashes.append(code)
                continue
            agency = Agency(code=identifier, name=province_agency_name(province), level="tinh", unit_code=code,
                            kind=UNIT_GOVERNMENT, code_provisional=code not in PROVINCE_IDENTIFIERS)
            db.session.add(agency)
            existing[identifier] = agency
            report.created += 1
        provinces[code] = (province, agency)
    db.session.flush()
    for ward in Ward.iter_all():
        code, pcode = f"{int(ward.code):05d}", f"{int(ward.province_code):02d}"
        report.communes += 1
        if code in governments or pcode not in provinces:
            continue
        identifier = commune_identifier(code, pcode)
        if identifier in existing:
            report.clashes.append(code)
            continue
        province, parent = provinces[pcode]
        agency = Agency(code=identifier, name=commune_agency_name(ward, province), level="xa", unit_code=code,
                        kind=UNIT_GOVERNMENT, code_provisional=True, parent_id=parent.id)
        db.session.add(agency)
        existing[identifier] = agency
        report.created += 1
    # Agencies that serve a commune (the demo ones, or any entered by hand) under that commune's province.
    ward_province = {f"{int(w.code):05d}": f"{int(w.province_code):02d}" for w in Ward.iter_all()}
    for agency in existing.values():
        province_code = ward_province.get(agency.unit_code or "")
        if agency.parent_id is None and province_code in provinces:
            agency.parent_id = provinces[province_code][1].id
            report.attached += 1
    db.session.flush()
    record_change(actor, "agency", None, "loaded", None,
                  {"provinces": report.provinces, "communes": report.communes, "created": report.created,
                   "attached": report.attached, "clashes": report.clashes[:50]})
    return report
