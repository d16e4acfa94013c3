"""Deterministic synthetic data for the sandbox national services.

Everything derives from one ``random.Random(seed)`` so a test, a demo and a developer's laptop see
the same citizens and businesses for the same seed. The module is pure Python (no Flask) and does
not import ``app``: connectors sit below the application layers, so the identifier rules (personal
ID ``PPP G YY RRRRRR``, tax code check digit) are re-applied here and cross-checked by the tests
against ``app.identifiers``.

Addresses use the two-level structure in force since 1/7/2025 (province → ward/commune). The small
list of provinces and wards below is real, but the codes are illustrative: the sandbox never
validates them.
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Final

__all__ = [
    "DEMO_CITIZEN_ID",
    "DEMO_SPOUSE_ID",
    "DEMO_TAX_CODE",
    "SandboxData",
    "generate",
    "personal_id_century_digit",
    "tax_check_digit",
]

Record = dict[str, Any]

DEMO_CITIZEN_ID: Final = "001090012345"
DEMO_SPOUSE_ID: Final = "001195012346"

# Births registered in one of the 63 pre-2025 provinces (PPP of the personal ID) — a subset with names.
BIRTH_PROVINCES: Final[tuple[tuple[str, str], ...]] = (
    ("001", "Thành phố Hà Nội"), ("002", "Tỉnh Hà Giang"), ("004", "Tỉnh Cao Bằng"),
    ("022", "Tỉnh Quảng Ninh"), ("026", "Tỉnh Vĩnh Phúc"), ("027", "Tỉnh Bắc Ninh"),
    ("030", "Tỉnh Hải Dương"), ("031", "Thành phố Hải Phòng"), ("033", "Tỉnh Hưng Yên"),
    ("034", "Tỉnh Thái Bình"), ("035", "Tỉnh Hà Nam"), ("036", "Tỉnh Nam Định"),
    ("037", "Tỉnh Ninh Bình"), ("038", "Tỉnh Thanh Hóa"), ("040", "Tỉnh Nghệ An"),
    ("042", "Tỉnh Hà Tĩnh"), ("044", "Tỉnh Quảng Bình"), ("046", "Tỉnh Thừa Thiên Huế"),
    ("048", "Thành phố Đà Nẵng"), ("049", "Tỉnh Quảng Nam"), ("051", "Tỉnh Quảng Ngãi"),
    ("052", "Tỉnh Bình Định"), ("056", "Tỉnh Khánh Hòa"), ("066", "Tỉnh Đắk Lắk"),
    ("068", "Tỉnh Lâm Đồng"), ("074", "Tỉnh Bình Dương"), ("075", "Tỉnh Đồng Nai"),
    ("077", "Tỉnh Bà Rịa - Vũng Tàu"), ("079", "Thành phố Hồ Chí Minh"), ("080", "Tỉnh Long An"),
    ("083", "Tỉnh Bến Tre"), ("089", "Tỉnh An Giang"), ("092", "Thành phố Cần Thơ"),
    ("096", "Tỉnh Cà Mau"),
)

# (province code, province name, tax-code prefix, [(ward code, ward name)])
RESIDENCE_PROVINCES: Final[tuple[tuple[str, str, str, tuple[tuple[str, str], ...]], ...]] = (
    ("01", "Thành phố Hà Nội", "01", (("00004", "Phường Ba Đình"), ("00070", "Phường Hoàn Kiếm"),
                                      ("00166", "Phường Cầu Giấy"), ("00190", "Phường Đống Đa"))),
    ("31", "Thành phố Hải Phòng", "02", (("11311", "Phường Hồng Bàng"), ("11329", "Phường Lê Chân"),
                                         ("11359", "Phường Ngô Quyền"))),
    ("79", "Thành phố Hồ Chí Minh", "03", (("26734", "Phường Sài Gòn"), ("26743", "Phường Bến Thành"),
                                           ("27004", "Phường Chợ Lớn"))),
    ("48", "Thành phố Đà Nẵng", "04", (("20194", "Phường Hải Châu"), ("20227", "Phường Thanh Khê"),
                                       ("20258", "Phường Sơn Trà"))),
    ("92", "Thành phố Cần Thơ", "18", (("31117", "Phường Ninh Kiều"), ("31135", "Phường Cái Khế"))),
    ("46", "Thành phố Huế", "33", (("19774", "Phường Thuận Hóa"), ("19753", "Phường Phú Xuân"))),
    ("38", "Tỉnh Thanh Hóa", "28", (("14755", "Phường Hạc Thành"), ("15853", "Xã Hoằng Hóa"))),
)

STREETS: Final = ("Lê Lợi", "Trần Hưng Đạo", "Nguyễn Trãi", "Hai Bà Trưng", "Lý Thường Kiệt", "Quang Trung",
                  "Lê Duẩn", "Nguyễn Du", "Phan Chu Trinh", "Hùng Vương")

FAMILY_NAMES: Final = ("Nguyễn", "Nguyễn", "Nguyễn", "Trần", "Trần", "Lê", "Lê", "Phạm", "Hoàng", "Huỳnh",
                       "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ", "Hồ", "Ngô", "Dương", "Lý")
MIDDLE_MALE: Final = ("Văn", "Văn", "Hữu", "Đức", "Minh", "Quang", "Thành", "Công", "Xuân", "Gia", "Anh")
MIDDLE_FEMALE: Final = ("Thị", "Thị", "Ngọc", "Thu", "Thanh", "Mai", "Kim", "Bảo", "Phương", "Minh")
GIVEN_MALE: Final = ("An", "Bình", "Cường", "Dũng", "Đạt", "Hùng", "Huy", "Khánh", "Long", "Nam", "Phong",
                     "Quân", "Sơn", "Thắng", "Trung", "Tuấn", "Việt", "Hiếu", "Khôi", "Phúc")
GIVEN_FEMALE: Final = ("Anh", "Chi", "Dung", "Giang", "Hà", "Hạnh", "Hoa", "Hương", "Lan", "Linh", "Mai",
                       "Ngọc", "Nhung", "Phương", "Thảo", "Trang", "Uyên", "Vy", "Yến", "Hằng")
ETHNICITIES: Final = ("Kinh",) * 17 + ("Tày", "Thái", "Mường", "Khmer", "Hoa", "Nùng", "H'Mông")
RELIGIONS: Final = ("Không",) * 16 + ("Phật giáo", "Phật giáo", "Công giáo", "Tin lành", "Cao Đài", "Hòa Hảo")
BLOOD_GROUPS: Final = ("O", "O", "A", "B", "AB")

BUSINESS_STATUSES: Final = ("Đang hoạt động",) * 16 + (
    "Tạm ngừng kinh doanh", "Tạm ngừng kinh doanh", "Đã giải thể",
    "Ngừng hoạt động nhưng chưa hoàn thành thủ tục chấm dứt hiệu lực mã số thuế")
BUSINESS_FORMS: Final = ("Công ty TNHH", "Công ty TNHH", "Công ty Cổ phần", "Công ty TNHH MTV", "Doanh nghiệp tư nhân")
BUSINESS_WORDS: Final = ("Thương mại", "Dịch vụ", "Xây dựng", "Công nghệ", "Đầu tư", "Phát triển", "Sản xuất",
                         "Vận tải", "Du lịch", "Nông sản", "Thực phẩm", "Giáo dục", "Tư vấn")
BUSINESS_BRANDS: Final = ("Sao Mai", "Hồng Hà", "Phú Thịnh", "Minh Phát", "Thành Công", "Bình Minh", "Đại Việt",
                          "Hoàng Long", "Tân Tiến", "An Khang", "Trường Sơn", "Hòa Bình", "Ánh Dương", "Kim Ngân")
VSIC_LINES: Final = (
    ("4101", "Xây dựng nhà để ở"), ("4102", "Xây dựng nhà không để ở"),
    ("4632", "Bán buôn thực phẩm"),
    ("4711", "Bán lẻ lương thực, thực phẩm, đồ uống, thuốc lá, thuốc lào chiếm tỷ trọng lớn "
             "trong các cửa hàng kinh doanh tổng hợp"),
    ("4933", "Vận tải hàng hóa bằng đường bộ"),
    ("5610", "Nhà hàng và các dịch vụ ăn uống phục vụ lưu động"),
    ("6201", "Lập trình máy vi tính"),
    ("6202", "Tư vấn máy vi tính và quản trị hệ thống máy vi tính"),
    ("6810", "Kinh doanh bất động sản, quyền sử dụng đất thuộc chủ sở hữu, chủ sử dụng hoặc đi thuê"),
    ("7020", "Hoạt động tư vấn quản lý"),
    ("7912", "Điều hành tua du lịch"),
    ("8559", "Giáo dục khác chưa được phân vào đâu"),
    ("1079", "Sản xuất thực phẩm khác chưa được phân vào đâu"),
)

_TAX_WEIGHTS: Final = (31, 29, 23, 19, 17, 13, 7, 5, 3)
_LATEST_BIRTH_YEAR: Final = 2024


def tax_check_digit(first_nine: str) -> int | None:
    """N10 = 10 − (Σ Ni·Wi mod 11); ``None`` when that gives 10, which the tax authority never issues."""
    check = 10 - sum(int(d) * w for d, w in zip(first_nine, _TAX_WEIGHTS, strict=True)) % 11
    return None if check == 10 else check


def personal_id_century_digit(birth_year: int, male: bool) -> int:
    """G of ``PPP G YY RRRRRR``: even for men, odd for women, one pair per century from the 1900s."""
    century = birth_year // 100 - 19
    if not 0 <= century <= 4:
        raise ValueError(f"birth year {birth_year} has no century digit")
    return century * 2 + (0 if male else 1)


def _ascii_slug(text: str) -> str:
    text = text.replace("đ", "d").replace("Đ", "D")
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in plain.lower() if ch.isalnum())


@dataclass
class SandboxData:
    """The seeded world: citizens by personal ID, businesses by tax code, households by book number."""

    seed: int
    citizens: dict[str, Record] = field(default_factory=dict)
    businesses: dict[str, Record] = field(default_factory=dict)
    households: dict[str, list[str]] = field(default_factory=dict)


class _Builder:
    def __init__(self, seed: int, min_citizens: int, n_businesses: int) -> None:
        self.rng = random.Random(seed)
        self.data = SandboxData(seed=seed)
        self.min_citizens = min_citizens
        self.n_businesses = n_businesses
        self.used_ids: set[str] = {DEMO_CITIZEN_ID, DEMO_SPOUSE_ID}
        self.used_books: set[str] = set()
        self.used_phones: set[str] = set()
        self.adults: list[Record] = []

    # ---------------------------------------------------------------- pieces

    def new_id(self, ppp: str, birth: date, male: bool) -> str:
        g = personal_id_century_digit(birth.year, male)
        while True:
            candidate = f"{ppp}{g}{birth.year % 100:02d}{self.rng.randrange(1_000_000):06d}"
            if candidate not in self.used_ids:
                self.used_ids.add(candidate)
                return candidate

    def birth_date(self, year: int) -> date:
        return date(year, 1, 1) + timedelta(days=self.rng.randrange(365))

    def address(self, province: tuple[str, str, str, tuple[tuple[str, str], ...]] | None = None) -> Record:
        code, name, _prefix, wards = province or self.rng.choice(RESIDENCE_PROVINCES)
        ward_code, ward_name = self.rng.choice(wards)
        detail = f"Số {self.rng.randint(1, 250)}, đường {self.rng.choice(STREETS)}"
        return {"province_code": code, "province_name": name, "ward_code": ward_code,
                "ward_name": ward_name, "detail": detail}

    def phone(self) -> str:
        while True:
            number = f"0{self.rng.choice('3789')}{self.rng.randrange(100_000_000):08d}"
            if number not in self.used_phones:
                self.used_phones.add(number)
                return number

    def book_number(self) -> str:
        while True:
            number = f"{self.rng.randrange(10**8, 10**9)}"
            if number not in self.used_books:
                self.used_books.add(number)
                return number

    def name(self, male: bool, family: str | None = None) -> tuple[str, str, str]:
        return (family or self.rng.choice(FAMILY_NAMES),
                self.rng.choice(MIDDLE_MALE if male else MIDDLE_FEMALE),
                self.rng.choice(GIVEN_MALE if male else GIVEN_FEMALE))

    def person(self, *, male: bool, birth: date, names: tuple[str, str, str], ppp: str | None = None,
               person_id: str | None = None, marital: str = "Độc thân") -> Record:
        if ppp is None:
            ppp = self.rng.choice(BIRTH_PROVINCES)[0]
        birth_province = dict(BIRTH_PROVINCES)[ppp]
        pid = person_id or self.new_id(ppp, birth, male)
        ho, dem, ten = names
        full = f"{ho} {dem} {ten}"
        adult = _LATEST_BIRTH_YEAR + 2 - birth.year >= 18
        old_id = f"{self.rng.randrange(10**8, 10**9)}" if birth.year < 1998 and self.rng.random() < 0.6 else None
        ethnicity = self.rng.choice(ETHNICITIES)
        hometown = self.address()
        return {
            "so_dinh_danh": pid,
            "so_cmnd": old_id,
            "ho_ten": full,
            "ho": ho,
            "chu_dem": dem,
            "ten": ten,
            "gioi_tinh": "Nam" if male else "Nữ",
            "ngay_sinh": birth.isoformat(),
            "quoc_tich": "Việt Nam",
            "dan_toc": ethnicity,
            "ton_giao": self.rng.choice(RELIGIONS),
            "tinh_trang_hon_nhan": marital,
            "nhom_mau": self.rng.choice(BLOOD_GROUPS),
            "noi_dang_ky_khai_sinh": {"province_code": ppp[1:], "province_name": birth_province},
            "que_quan": hometown,
            "noi_thuong_tru": None,
            "noi_o_hien_tai": None,
            "cha": None,
            "me": None,
            "vo_chong": None,
            "nguoi_dai_dien": None,
            "chu_ho": None,
            "quan_he_voi_chu_ho": None,
            "so_ho_khau": None,
            "email": f"{_ascii_slug(ten)}.{_ascii_slug(ho)}{pid[-4:]}@example.vn" if adult else None,
            "so_dien_thoai": self.phone() if adult else None,
            "ma_so_thue": pid if adult else None,
        }

    @staticmethod
    def ref(person: Record) -> Record:
        return {"so_dinh_danh": person["so_dinh_danh"], "ho_ten": person["ho_ten"], "quoc_tich": "Việt Nam"}

    # ---------------------------------------------------------------- households

    def marry(self, a: Record, b: Record) -> None:
        a["vo_chong"], b["vo_chong"] = self.ref(b), self.ref(a)
        a["tinh_trang_hon_nhan"] = b["tinh_trang_hon_nhan"] = "Đã kết hôn"

    def children(self, father: Record | None, mother: Record | None, count: int) -> list[Record]:
        parent = mother or father
        assert parent is not None
        mother_year = int(parent["ngay_sinh"][:4])
        first, last = mother_year + 20, min(mother_year + 40, _LATEST_BIRTH_YEAR)
        family = (father or parent)["ho"]
        kids: list[Record] = []
        for _ in range(count):
            if first > last:
                break
            male = self.rng.random() < 0.5
            kid = self.person(male=male, birth=self.birth_date(self.rng.randint(first, last)),
                              names=self.name(male, family))
            kid["cha"] = self.ref(father) if father else None
            kid["me"] = self.ref(mother) if mother else None
            if mother is None or father is None:
                # Children of a single parent: the parent represents the minors.
                kid["nguoi_dai_dien"] = self.ref(parent)
            elif int(kid["ngay_sinh"][:4]) > _LATEST_BIRTH_YEAR + 2 - 18:
                kid["nguoi_dai_dien"] = self.ref(father)
            kids.append(kid)
        return kids

    def register(self, head: Record, members: list[tuple[Record, str]], permanent: Record | None = None) -> None:
        book = self.book_number()
        permanent = permanent or self.address()
        self.data.households[book] = []
        for person, relation in [(head, "Chủ hộ"), *members]:
            person["so_ho_khau"] = book
            person["chu_ho"] = self.ref(head)
            person["quan_he_voi_chu_ho"] = relation
            person["noi_thuong_tru"] = dict(permanent)
            moved = self.rng.random() < 0.12
            person["noi_o_hien_tai"] = self.address() if moved else dict(permanent)
            self.data.citizens[person["so_dinh_danh"]] = person
            self.data.households[book].append(person["so_dinh_danh"])

    def demo_household(self) -> None:
        an = self.person(male=True, birth=date(1990, 5, 12), names=("Nguyễn", "Văn", "An"), ppp="001",
                         person_id=DEMO_CITIZEN_ID)
        binh = self.person(male=False, birth=date(1995, 8, 20), names=("Trần", "Thị", "Bình"), ppp="001",
                           person_id=DEMO_SPOUSE_ID)
        an["email"], binh["email"] = "nguyenvanan@example.vn", "tranthibinh@example.vn"
        an["dan_toc"] = binh["dan_toc"] = "Kinh"
        self.marry(an, binh)
        kid = self.person(male=True, birth=date(2021, 3, 9), names=("Nguyễn", "Minh", "Khôi"), ppp="001")
        kid["cha"], kid["me"], kid["nguoi_dai_dien"] = self.ref(an), self.ref(binh), self.ref(an)
        home = {"province_code": "01", "province_name": "Thành phố Hà Nội", "ward_code": "00004",
                "ward_name": "Phường Ba Đình", "detail": "Số 12, phố Kim Mã"}
        self.register(an, [(binh, "Vợ"), (kid, "Con")], home)
        for person in (an, binh, kid):
            person["noi_o_hien_tai"] = dict(home)

    def random_household(self) -> None:
        rng = self.rng
        kind = rng.random()
        husband_year = rng.randint(1950, 2000)
        wife_year = min(max(husband_year + rng.randint(-3, 6), 1950), 2002)
        husband = self.person(male=True, birth=self.birth_date(husband_year), names=self.name(True))
        wife = self.person(male=False, birth=self.birth_date(wife_year), names=self.name(False))
        if kind < 0.15:
            # A single parent (divorced or widowed) with 1–3 children.
            male_head = rng.random() < 0.3
            head = husband if male_head else wife
            head["tinh_trang_hon_nhan"] = rng.choice(("Ly hôn", "Góa"))
            kids = self.children(head if male_head else None, None if male_head else head, rng.randint(1, 3))
            if not kids:
                kids = [self.person(male=True, birth=self.birth_date(min(int(head["ngay_sinh"][:4]) + 22,
                                                                         _LATEST_BIRTH_YEAR)),
                                    names=self.name(True, head["ho"]))]
                kids[0]["cha" if male_head else "me"] = self.ref(head)
            self.register(head, [(k, "Con") for k in kids])
            return
        self.marry(husband, wife)
        wife_heads = rng.random() < 0.15
        head, spouse = (wife, husband) if wife_heads else (husband, wife)
        members: list[tuple[Record, str]] = [(spouse, "Chồng" if wife_heads else "Vợ")]
        if kind > 0.85:
            # The head's widowed mother lives with them.
            head_year = int(head["ngay_sinh"][:4])
            grandma = self.person(male=False, birth=self.birth_date(head_year - rng.randint(22, 35)),
                                  names=self.name(False), marital="Góa")
            head["me"] = self.ref(grandma)
            members.append((grandma, "Mẹ"))
            kid_count = rng.randint(0, 3)
        else:
            kid_count = rng.randint(0, 4)
        members += [(k, "Con") for k in self.children(husband, wife, kid_count)]
        self.register(head, members)

    # ---------------------------------------------------------------- businesses

    def tax_code(self, prefix: str) -> str:
        while True:
            first_nine = f"{prefix}{self.rng.randrange(10**7):07d}"
            check = tax_check_digit(first_nine)
            code = f"{first_nine}{check}"
            if check is not None and code not in self.data.businesses and code != DEMO_TAX_CODE:
                return code

    def business(self, code: str, name: str | None = None, status: str | None = None,
                 representative: Record | None = None) -> Record:
        rng = self.rng
        province = next((p for p in RESIDENCE_PROVINCES if p[2] == code[:2]), RESIDENCE_PROVINCES[0])
        rep = representative or rng.choice(self.adults)
        lines = rng.sample(VSIC_LINES, rng.randint(1, 4))
        founded = date(2000, 1, 1) + timedelta(days=rng.randrange(9000))
        return {
            "ma_so_thue": code,
            "ma_so_doanh_nghiep": code,
            "ten": name or f"{rng.choice(BUSINESS_FORMS)} {rng.choice(BUSINESS_WORDS)} {rng.choice(BUSINESS_BRANDS)}",
            "tinh_trang": status or rng.choice(BUSINESS_STATUSES),
            "ngay_thanh_lap": founded.isoformat(),
            "dia_chi": self.address(province),
            "nguoi_dai_dien_phap_luat": {**self.ref(rep), "chuc_danh": rng.choice(("Giám đốc", "Tổng giám đốc",
                                                                                     "Chủ tịch HĐQT"))},
            "von_dieu_le": rng.randint(1, 500) * 100_000_000,
            "nganh_nghe_kinh_doanh": [{"ma_nganh": c, "ten_nganh": n, "nganh_chinh": i == 0}
                                      for i, (c, n) in enumerate(lines)],
            "so_dien_thoai": self.phone(),
            "email": f"lienhe{code[-5:]}@example.vn",
        }

    def build(self) -> SandboxData:
        self.demo_household()
        while len(self.data.citizens) < self.min_citizens:
            self.random_household()
        self.adults = [c for c in self.data.citizens.values() if c["ma_so_thue"]]
        demo = self.business(DEMO_TAX_CODE, "Công ty TNHH Dịch vụ Một Cửa An Bình", "Đang hoạt động",
                             self.data.citizens[DEMO_CITIZEN_ID])
        self.data.businesses[DEMO_TAX_CODE] = demo
        while len(self.data.businesses) < self.n_businesses:
            code = self.tax_code(self.rng.choice(RESIDENCE_PROVINCES)[2])
            self.data.businesses[code] = self.business(code)
        return self.data


def _demo_tax_code() -> str:
    first_nine = "010909012"
    check = tax_check_digit(first_nine)
    assert check is not None
    return f"{first_nine}{check}"


DEMO_TAX_CODE: Final = _demo_tax_code()


def generate(seed: int = 2026, *, min_citizens: int = 1000, n_businesses: int = 200) -> SandboxData:
    """Build the sandbox world for ``seed``: the same seed always yields identical records."""
    return _Builder(seed, min_citizens, n_businesses).build()
