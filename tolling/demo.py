"""The demo country's toll side: every ETC province with its operators, card issuers, toll units and rates, and
the facts on top (multi-segment trips, top-ups, back-charges, paper tickets, taxi rides). The people (customers,
cards, titles) and the whole seed are in invoicing/demo.py.

Deterministic for a seed and a day: everything is drawn from ``random.Random`` and times are laid out over the
``days`` days before today's Beijing midnight. Set-based: dimension tables of a few hundred rows go through
``bulk_create``; everything that grows with ``segments`` is streamed with ``COPY``.

The trip generator (``generate_trips`` / ``trip_chunks``) is shared with ``bench/generate.py``, which writes the
same rows as upload-contract CSV or COPYs them straight into the fact tables.
"""

from __future__ import annotations

import datetime as dt
import random
import re
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NamedTuple

from piaogen.identifiers import (
    ETC_PROVINCES,
    PROVINCE_NAMES,
    USCC_ALPHABET,
    resident_id_check_char,
    uscc_check_char,
)
from tolling.models import (
    AuditReason,
    Card,
    Operator,
    OperatorKind,
    PayMethod,
    RoadNature,
    TollUnit,
    TollUnitRate,
)

# --- demo logins -----------------------------------------------------------------------------------------------


# --- the country -----------------------------------------------------------------------------------------------

PLATE_CHARS: dict[str, str] = dict(
    zip(PROVINCE_NAMES, "京津冀晋蒙辽吉黑沪苏浙皖闽赣鲁豫鄂湘粤桂琼渝川贵云藏陕甘青宁新", strict=True)
)

NEIGHBOURS: dict[str, tuple[str, ...]] = {
    "11": ("12", "13"),
    "12": ("11", "13"),
    "13": ("11", "12", "14", "15", "21", "37", "41"),
    "14": ("13", "15", "41", "61"),
    "15": ("13", "14", "21", "22", "23", "61", "62", "64"),
    "21": ("13", "15", "22"),
    "22": ("15", "21", "23"),
    "23": ("15", "22"),
    "31": ("32", "33"),
    "32": ("31", "33", "34", "37"),
    "33": ("31", "32", "34", "35", "36"),
    "34": ("32", "33", "36", "37", "41", "42"),
    "35": ("33", "36", "44"),
    "36": ("33", "34", "35", "42", "43", "44"),
    "37": ("13", "32", "34", "41"),
    "41": ("13", "14", "34", "37", "42", "61"),
    "42": ("34", "36", "41", "43", "50", "61"),
    "43": ("36", "42", "44", "45", "50", "52"),
    "44": ("35", "36", "43", "45"),
    "45": ("43", "44", "52", "53"),
    "50": ("42", "43", "51", "52", "61"),
    "51": ("50", "52", "53", "61", "62", "63"),
    "52": ("43", "45", "50", "51", "53"),
    "53": ("45", "51", "52"),
    "61": ("14", "15", "41", "42", "50", "51", "62", "64"),
    "62": ("15", "51", "61", "63", "64", "65"),
    "63": ("51", "62", "65"),
    "64": ("15", "61", "62"),
    "65": ("62", "63"),
}
"""Land neighbours among the ETC provinces: where a trip goes when it leaves a province."""

PLACES: dict[str, tuple[str, ...]] = {
    "11": ("大羊坊", "马驹桥", "西集", "杜家坎", "沙河", "顺义", "通州", "大兴", "昌平", "延庆"),
    "12": ("津南", "塘沽", "武清", "宝坻", "蓟州", "静海", "宁河", "西青"),
    "13": ("石家庄", "保定", "廊坊", "唐山", "沧州", "邯郸", "邢台", "张家口", "承德", "衡水"),
    "14": ("太原", "大同", "阳泉", "长治", "晋城", "朔州", "晋中", "运城", "临汾", "吕梁"),
    "15": ("呼和浩特", "包头", "乌海", "赤峰", "通辽", "鄂尔多斯", "乌兰察布", "巴彦淖尔"),
    "21": ("沈阳", "大连", "鞍山", "抚顺", "本溪", "丹东", "锦州", "营口", "阜新", "铁岭"),
    "22": ("长春", "吉林", "四平", "辽源", "通化", "白山", "松原", "白城"),
    "23": ("哈尔滨", "齐齐哈尔", "牡丹江", "佳木斯", "大庆", "鸡西", "绥化", "黑河"),
    "31": ("安亭", "嘉定", "青浦", "松江", "金山", "奉贤", "浦东", "宝山"),
    "32": ("南京", "无锡", "徐州", "常州", "苏州", "南通", "连云港", "淮安", "盐城", "扬州", "镇江", "泰州", "宿迁"),
    "33": ("杭州", "宁波", "温州", "嘉兴", "湖州", "绍兴", "金华", "衢州", "舟山", "台州", "丽水"),
    "34": ("合肥", "芜湖", "蚌埠", "淮南", "马鞍山", "安庆", "黄山", "滁州", "阜阳", "六安"),
    "35": ("福州", "厦门", "莆田", "三明", "泉州", "漳州", "南平", "龙岩", "宁德"),
    "36": ("南昌", "景德镇", "萍乡", "九江", "新余", "鹰潭", "赣州", "吉安", "宜春", "上饶"),
    "37": ("济南", "青岛", "淄博", "枣庄", "东营", "烟台", "潍坊", "济宁", "泰安", "威海", "临沂", "德州"),
    "41": ("郑州", "开封", "洛阳", "平顶山", "安阳", "新乡", "焦作", "许昌", "漯河", "南阳", "信阳", "商丘"),
    "42": ("武汉", "黄石", "十堰", "宜昌", "襄阳", "鄂州", "荆门", "孝感", "荆州", "黄冈"),
    "43": ("长沙", "株洲", "湘潭", "衡阳", "邵阳", "岳阳", "常德", "张家界", "益阳", "郴州"),
    "44": ("广州", "深圳", "珠海", "汕头", "佛山", "韶关", "湛江", "肇庆", "江门", "惠州", "东莞", "中山"),
    "45": ("南宁", "柳州", "桂林", "梧州", "北海", "钦州", "贵港", "玉林", "百色"),
    "50": ("渝北", "江北", "沙坪坝", "九龙坡", "涪陵", "万州", "永川", "合川", "綦江"),
    "51": ("成都", "自贡", "攀枝花", "泸州", "德阳", "绵阳", "广元", "遂宁", "内江", "乐山", "南充", "宜宾"),
    "52": ("贵阳", "六盘水", "遵义", "安顺", "毕节", "铜仁", "凯里", "都匀"),
    "53": ("昆明", "曲靖", "玉溪", "保山", "昭通", "丽江", "普洱", "大理", "楚雄"),
    "61": ("西安", "铜川", "宝鸡", "咸阳", "渭南", "延安", "汉中", "榆林", "安康", "商洛"),
    "62": ("兰州", "嘉峪关", "金昌", "白银", "天水", "武威", "张掖", "平凉", "酒泉", "定西"),
    "63": ("西宁", "海东", "格尔木", "德令哈", "共和", "湟源"),
    "64": ("银川", "石嘴山", "吴忠", "固原", "中卫", "灵武"),
    "65": ("乌鲁木齐", "克拉玛依", "吐鲁番", "哈密", "昌吉", "库尔勒", "阿克苏", "喀什", "伊宁", "石河子"),
}

EXPRESSWAYS: dict[str, tuple[tuple[str, str], ...]] = {
    "11": (("G0001", "G1京哈高速"), ("G0004", "G4京港澳高速"), ("G0006", "G6京藏高速"), ("G0045", "G45大广高速")),
    "12": (("G0002", "G2京沪高速"), ("G0018", "G18荣乌高速"), ("G0025", "G25长深高速")),
    "13": (("G0001", "G1京哈高速"), ("G0004", "G4京港澳高速"), ("G0020", "G20青银高速"), ("G0045", "G45大广高速")),
    "14": (("G0005", "G5京昆高速"), ("G0020", "G20青银高速"), ("G0055", "G55二广高速")),
    "15": (("G0006", "G6京藏高速"), ("G0007", "G7京新高速"), ("G0065", "G65包茂高速")),
    "21": (("G0001", "G1京哈高速"), ("G0015", "G15沈海高速"), ("G0016", "G16丹锡高速")),
    "22": (("G0001", "G1京哈高速"), ("G0012", "G12珲乌高速"), ("G0045", "G45大广高速")),
    "23": (("G0001", "G1京哈高速"), ("G0010", "G10绥满高速"), ("G0011", "G11鹤大高速")),
    "31": (("G0002", "G2京沪高速"), ("G0015", "G15沈海高速"), ("G0060", "G60沪昆高速")),
    "32": (("G0002", "G2京沪高速"), ("G0015", "G15沈海高速"), ("G0025", "G25长深高速"), ("G0042", "G42沪蓉高速")),
    "33": (
        ("G0015", "G15沈海高速"),
        ("G0060", "G60沪昆高速"),
        ("G0092", "G92杭州湾环线高速"),
        ("G0025", "G25长深高速"),
    ),
    "34": (("G0003", "G3京台高速"), ("G0040", "G40沪陕高速"), ("G0042", "G42沪蓉高速")),
    "35": (("G0015", "G15沈海高速"), ("G0003", "G3京台高速"), ("G0070", "G70福银高速")),
    "36": (("G0060", "G60沪昆高速"), ("G0070", "G70福银高速"), ("G0045", "G45大广高速")),
    "37": (("G0002", "G2京沪高速"), ("G0003", "G3京台高速"), ("G0020", "G20青银高速"), ("G0015", "G15沈海高速")),
    "41": (("G0004", "G4京港澳高速"), ("G0030", "G30连霍高速"), ("G0045", "G45大广高速")),
    "42": (("G0004", "G4京港澳高速"), ("G0042", "G42沪蓉高速"), ("G0050", "G50沪渝高速"), ("G0070", "G70福银高速")),
    "43": (("G0004", "G4京港澳高速"), ("G0060", "G60沪昆高速"), ("G0055", "G55二广高速")),
    "44": (
        ("G0004", "G4京港澳高速"),
        ("G0015", "G15沈海高速"),
        ("G0045", "G45大广高速"),
        ("G0094", "G94珠三角环线高速"),
    ),
    "45": (("G0072", "G72泉南高速"), ("G0075", "G75兰海高速"), ("G0080", "G80广昆高速")),
    "50": (("G0050", "G50沪渝高速"), ("G0065", "G65包茂高速"), ("G0075", "G75兰海高速")),
    "51": (("G0005", "G5京昆高速"), ("G0042", "G42沪蓉高速"), ("G0075", "G75兰海高速")),
    "52": (("G0060", "G60沪昆高速"), ("G0075", "G75兰海高速"), ("G0056", "G56杭瑞高速")),
    "53": (("G0056", "G56杭瑞高速"), ("G0060", "G60沪昆高速"), ("G0080", "G80广昆高速")),
    "61": (("G0005", "G5京昆高速"), ("G0030", "G30连霍高速"), ("G0065", "G65包茂高速"), ("G0070", "G70福银高速")),
    "62": (("G0030", "G30连霍高速"), ("G0075", "G75兰海高速"), ("G0022", "G22青兰高速")),
    "63": (("G0006", "G6京藏高速"), ("G0611", "G0611张汶高速"), ("G0612", "G0612西和高速")),
    "64": (("G0006", "G6京藏高速"), ("G0020", "G20青银高速"), ("G0070", "G70福银高速")),
    "65": (("G0030", "G30连霍高速"), ("G3012", "G3012吐和高速"), ("G0007", "G7京新高速")),
}

ISSUER_BRANDS = ("通行宝", "畅行", "速通", "e行", "乐行", "通衢", "行易", "捷通", "路路通", "畅途")
TAXI_COMPANIES: tuple[tuple[str, str, str], ...] = (
    ("11", "北京银建出租汽车有限公司", "京B"),
    ("31", "上海大众出租汽车股份有限公司", "沪"),
    ("44", "广州市白云出租汽车集团有限公司", "粤A"),
    ("44", "深圳市鹏程出租汽车有限公司", "粤B"),
    ("33", "杭州大众出租汽车股份有限公司", "浙A"),
    ("32", "南京中北出租汽车有限公司", "苏A"),
    ("51", "成都银河出租汽车有限公司", "川A"),
)
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国志红玉梅文斌浩宇子涵欣怡思雨俊杰嘉怡晨阳佳琪"
COMPANY_WORDS = (
    "恒达",
    "华信",
    "顺通",
    "远航",
    "鑫源",
    "盛世",
    "宏图",
    "安泰",
    "众诚",
    "汇通",
    "金桥",
    "天成",
    "永盛",
    "博远",
)
COMPANY_TRADES = ("物流", "运输", "供应链", "贸易", "建设工程", "科技", "商贸", "冷链物流", "汽车服务", "建材")
TOPUP_CHANNELS = ("APP", "微信小程序", "支付宝", "服务网点", "银行代充", "自助终端")
TOPUP_YUAN = (100, 200, 200, 300, 500, 500, 500, 800, 1000, 1000, 1500, 2000)

_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"  # plate letters: no I, O
_CITY_LETTERS = "ABCDEFGHJKLMN"
COLOUR_WEIGHTS = ((0, 700), (1, 120), (4, 120), (11, 10), (5, 15), (2, 3), (3, 5), (6, 5), (7, 5), (9, 5), (12, 2))
_TRUCK_CLASSES = (11, 11, 12, 12, 13, 14, 15, 16, 16, 16)
_TRUCK_FEN_PER_KM = {11: 45, 12: 85, 13: 120, 14: 145, 15: 165, 16: 180}
_RATE_FEN_PER_KM = {1: 45, 2: 68, 3: 90, 4: 110} | _TRUCK_FEN_PER_KM | {k + 10: v for k, v in _TRUCK_FEN_PER_KM.items()}
_HOUR_TABLE = tuple(
    h for h, w in enumerate((1, 1, 1, 1, 1, 2, 4, 8, 9, 8, 7, 6, 6, 6, 7, 8, 9, 9, 8, 6, 4, 3, 2, 1)) for _ in range(w)
)
_SEGMENTS_PER_TRIP = (1, 1, 1, 2, 2, 2, 3, 3, 4, 5)

BEIJING = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")
_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()


def full_province_name(code: str) -> str:
    short = PROVINCE_NAMES[code]
    if code in ("11", "12", "31", "50"):
        return short + "市"
    return {"15": "内蒙古自治区", "45": "广西壮族自治区", "54": "西藏自治区", "64": "宁夏回族自治区"}.get(
        code, "新疆维吾尔自治区" if code == "65" else short + "省"
    )


# --- identifiers -----------------------------------------------------------------------------------------------


def _org_code(rng: random.Random) -> str:
    """A 9-character organisation code (GB 11714): 8 characters and its check character."""
    body = "".join(rng.choice("0123456789ABCDEFGHJKLMNPQRTUWXY") for _ in range(8))
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(body, (3, 7, 9, 10, 5, 8, 4, 2), strict=True))
    check = 11 - total % 11
    return body + {10: "X", 11: "0"}.get(check, str(check))


def make_uscc(rng: random.Random, *, division: str, registrar: str = "91") -> str:
    """A unified social credit code with a valid check character: registrar + 6-digit division + org code."""
    first17 = registrar + division + _org_code(rng)
    return first17 + uscc_check_char(first17)


def make_resident_id(rng: random.Random, *, province: str) -> str:
    """An 18-digit resident ID of someone born 1955–2004 in the province, with its check character."""
    born = dt.date(1955, 1, 1) + dt.timedelta(days=rng.randrange(50 * 365))
    first17 = f"{province}{rng.randint(1, 9):02d}{rng.randint(1, 28):02d}{born:%Y%m%d}{rng.randrange(1000):03d}"
    return first17 + resident_id_check_char(first17)


def make_person_name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))


def _plate_tail(rng: random.Random, length: int) -> str:
    chars = [rng.choice("0123456789") for _ in range(length)]
    for _ in range(rng.choice((0, 0, 0, 1, 1, 2))):
        chars[rng.randrange(length)] = rng.choice(_LETTERS)
    return "".join(chars)


def make_plate(rng: random.Random, *, province: str, colour: int, trailer: bool = False) -> str:
    """A plate for a province in the shape its colour uses (new-energy plates are 8 characters)."""
    head = PLATE_CHARS[province] + rng.choice(_CITY_LETTERS)
    if colour in (4, 11):  # small new-energy: D/F + letter-or-digit + 4 digits
        return head + rng.choice("DF") + rng.choice(_LETTERS + "0123456789") + f"{rng.randrange(10_000):04d}"
    if colour == 5:  # large new-energy: 5 digits + D/F
        return head + f"{rng.randrange(100_000):05d}" + rng.choice("DF")
    if colour == 2:  # cross-border cars: 粤Z····港/澳
        return "粤Z" + _plate_tail(rng, 4) + rng.choice("港澳")
    if colour == 3:  # police
        return head + f"{rng.randrange(10_000):04d}" + "警"
    if trailer:
        return head + _plate_tail(rng, 4) + "挂"
    return head + _plate_tail(rng, 5)


def vehicle_class_for(rng: random.Random, colour: int) -> int:
    if colour == 1:
        r = rng.random()
        if r < 0.8:
            return rng.choice(_TRUCK_CLASSES)
        return rng.choice((2, 3, 4)) if r < 0.92 else rng.randint(21, 26)
    if colour == 5:
        return rng.choice((11, 12, 3))
    if colour == 0 and rng.random() < 0.05:
        return 2
    return 1


def weighted_colours() -> tuple[int, ...]:
    return tuple(c for c, w in COLOUR_WEIGHTS for _ in range(w))


# --- the shapes the trip generator works on --------------------------------------------------------------------


class UnitRef(NamedTuple):
    """A toll unit as the trip generator needs it: id, code, province, stations, length in metres."""

    id: int
    code: str
    province: str
    entry_station: str
    exit_station: str
    length_m: int

    @classmethod
    def from_unit(cls, unit_id: int, code: str, province: str, name: str) -> UnitRef:
        """From a stored unit: stations from a ``…（甲—乙）`` name when it has one, length from the code."""
        inner = name.rpartition("（")[2].rstrip("）")
        a, sep, b = inner.partition("—")
        if not (sep and a and b):
            a, b = f"{PROVINCE_NAMES.get(province, '')}{code[-4:]}", f"{PROVINCE_NAMES.get(province, '')}{code[-3:]}"
        return cls(unit_id, code, province, a + "站", b + "站", 5_000 + zlib.crc32(code.encode()) % 55_000)


class CardRef(NamedTuple):
    """A card as the trip generator needs it: number, type, its vehicle, its province."""

    card_no: str
    card_type: int
    plate: str
    plate_color: int
    vehicle_class: int
    province: str


SegmentDraft = tuple[UnitRef, int, int, int, int]
"""One segment: (unit, entry_s, exit_s, pay_fee, discount_fee); times in Beijing local seconds since 1970-01-01
00:00 (or offsets from a trip's start, in a route), money in fen. Plain tuples: there are millions of them."""


class Route:
    """A way a card's vehicle drives: its legs with time offsets from the trip's start and fees.

    Vehicles drive the same few routes again and again (commutes, delivery rounds, and the way back), so a trip is
    a card, one of its routes and a start time. ``formats`` memoises per-leg text for the row formatters.
    """

    __slots__ = ("duration", "entry_station", "exit_station", "formats", "legs")

    def __init__(self, legs: Sequence[SegmentDraft], entry_station: str, exit_station: str) -> None:
        self.legs = tuple(legs)
        self.duration = self.legs[-1][2]
        self.entry_station = entry_station
        self.exit_station = exit_station
        self.formats: dict[str, Any] = {}

    def reversed(self) -> Route:
        """The way back: the same units in the other order, the same time on each."""
        legs, t = [], 0
        for unit, a, b, pay, discount in reversed(self.legs):
            legs.append((unit, t, t + b - a, pay, discount))
            t += b - a + 15
        return Route(legs, self.exit_station, self.entry_station)


TripDraft = tuple[str, CardRef, int, Route]
"""One generated trip: (pass_id, card, start_s, route). Plain tuples: the generator makes millions of them."""


def trip_segments(trip: TripDraft) -> list[SegmentDraft]:
    """A trip's segments with absolute times (Beijing local seconds)."""
    _pass_id, _card, start, route = trip
    return [(unit, start + a, start + b, pay, discount) for unit, a, b, pay, discount in route.legs]


class _DayStrings(dict[int, str]):
    """Beijing local day number → text, computed once per day (``fmt`` is a date format)."""

    def __init__(self, fmt: str) -> None:
        super().__init__()
        self.fmt = fmt

    def __missing__(self, day: int) -> str:
        text = dt.date.fromordinal(_EPOCH_ORDINAL + day).strftime(self.fmt)
        self[day] = text
        return text


DAYS = _DayStrings("%Y-%m-%d")
"""``DAYS[day]`` → ``YYYY-MM-DD``."""
_DAYS6 = _DayStrings("%y%m%d")
SECONDS = tuple(f" {s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(86_400))
"""``SECONDS[s]`` → `` HH:MM:SS`` (with the leading space) for a second of the day."""
_SECONDS_TZ = tuple(text + "+08" for text in SECONDS)


def day_str(day: int) -> str:
    """``YYYY-MM-DD`` of a Beijing local day number (days since 1970-01-01)."""
    return DAYS[day]


def local_time_str(seconds: int) -> str:
    """``YYYY-MM-DD HH:MM:SS`` of Beijing local seconds since 1970-01-01 00:00."""
    return DAYS[seconds // 86_400] + SECONDS[seconds % 86_400]


def local_day(date: dt.date) -> int:
    return date.toordinal() - _EPOCH_ORDINAL


def beijing_today() -> dt.date:
    return dt.datetime.now(BEIJING).date()


def _make_routes(
    rng: random.Random,
    card: CardRef,
    pools: dict[str, list[UnitRef]],
    neighbours: dict[str, list[str]],
    provinces: list[str],
) -> list[Route]:
    """1–3 routes for a card, each with its way back: mostly from its home province, sometimes across borders."""
    vclass = card.vehicle_class
    truck = vclass >= 11
    rate = _RATE_FEN_PER_KM[vclass]
    pace = 0.051 if truck else 0.036  # seconds per metre: 70 / 100 km/h
    routes = []
    for _ in range(rng.choice((1, 1, 2, 2, 3))):
        n = rng.choice(_SEGMENTS_PER_TRIP) + (1 if truck and rng.random() < 0.3 else 0)
        province = card.province if card.province in pools and rng.random() < 0.8 else rng.choice(provinces)
        green = truck and rng.random() < 0.03  # green channel: fresh produce goes free
        discount_pct = 0 if rng.random() < 0.2 else (15 if truck and rng.random() < 0.15 else 5)
        legs: list[SegmentDraft] = []
        unit: UnitRef | None = None
        t = 0
        for _ in range(min(n, 5)):
            if unit is not None and rng.random() < 0.3 and neighbours[province]:
                province = rng.choice(neighbours[province])
            choice = rng.choice(pools[province])
            unit = choice if choice is not unit else rng.choice(pools[province])
            exit_t = t + int(unit.length_m * pace * (0.85 + 0.5 * rng.random()))
            pay = (unit.length_m * rate + 500) // 1000
            legs.append((unit, t, exit_t, pay, pay if green else (pay * discount_pct + 50) // 100))
            t = exit_t + rng.randrange(40)
        route = Route(legs, legs[0][0].entry_station, legs[-1][0].exit_station)
        routes += [route, route.reversed()]
    return routes


def generate_trips(
    *,
    rng: random.Random,
    units_by_province: Mapping[str, Sequence[UnitRef]],
    cards: Sequence[CardRef],
    segments: int,
    today: dt.date,
    days: int = 60,
    pass_prefix: str = "",
    route_seed: str = "",
    route_cache: dict[int, list[Route]] | None = None,
) -> Iterator[TripDraft]:
    """Trips of 1–5 segments, exactly ``segments`` segments in all, exiting in the ``days`` days before today.

    A trip is a card (a few cards drive a lot, most a little), one of the card's routes and a start time. Routes
    depend only on ``route_seed`` and the card's position, so any chunk, in any process, sees the same ones. A
    route starts in its card's province (mostly) and may cross into neighbouring provinces; each segment is on a
    toll unit of the province it is in. Fees are the unit's length × the class's rate per km (integer fen), with
    the 5% ETC discount most of the time, none sometimes, and green-channel exemptions for some trucks. The last
    trip is cut short so that exactly ``segments`` segments come out.
    """
    provinces = [p for p in units_by_province if units_by_province[p]]
    if not provinces or not cards:
        raise ValueError("generate_trips needs toll units and cards")
    pools = {p: list(units_by_province[p]) for p in provinces}
    neighbours = {p: [n for n in NEIGHBOURS.get(p, ()) if n in pools] for p in provinces}
    cache = {} if route_cache is None else route_cache
    end_s = local_day(today) * 86_400 - 1  # nothing after yesterday 23:59:59 (Beijing)
    first_day = local_day(today) - days
    random_ = rng.random
    n_cards, n_hours, hours, days6 = len(cards), len(_HOUR_TABLE), _HOUR_TABLE, _DAYS6
    made = seq = 0
    while made < segments:
        skew = random_()  # a few cards drive a lot, most a little
        index = int(n_cards * skew * skew)
        card = cards[index]
        routes = cache.get(index)
        if routes is None:
            if len(cache) > 300_000:  # bound memory on huge card sets; routes are recomputed identically
                cache.clear()
            seeded = random.Random(f"{route_seed}:{index}")  # noqa: S311 — demo data, not secrets
            routes = cache[index] = _make_routes(seeded, card, pools, neighbours, provinces)
        route = routes[int(random_() * len(routes))]
        if len(route.legs) > segments - made:
            route = Route(route.legs[: segments - made], route.entry_station, route.exit_station)
        day = first_day + int(random_() * days)
        start = day * 86_400 + hours[int(random_() * n_hours)] * 3600 + int(random_() * 3600)
        if start + route.duration > end_s:
            start = end_s - route.duration - 3600
        seq += 1
        yield (f"{pass_prefix}{card[0][:4]}{days6[day]}{seq:07d}", card, start, route)
        made += len(route.legs)


def trip_chunks(
    *,
    seed: int,
    units_by_province: Mapping[str, Sequence[UnitRef]],
    cards: Sequence[CardRef],
    segments: int,
    today: dt.date,
    days: int = 60,
    tag: str = "P",
    chunk_segments: int = 50_000,
    chunks: Iterable[int] | None = None,
    route_cache: dict[int, list[Route]] | None = None,
) -> Iterator[list[TripDraft]]:
    """``generate_trips`` in independent chunks of ``chunk_segments`` segments (each with its own RNG and pass-id
    prefix ``tag`` + chunk number), so chunks can be made in any order or in parallel with the same result."""
    total = -(-segments // chunk_segments)
    route_cache = {} if route_cache is None else route_cache
    for k in range(total) if chunks is None else chunks:
        size = min(chunk_segments, segments - k * chunk_segments)
        rng = random.Random(f"{seed}:{tag}:{k}")  # noqa: S311 — demo data, not secrets
        yield list(
            generate_trips(
                rng=rng,
                units_by_province=units_by_province,
                cards=cards,
                segments=size,
                today=today,
                days=days,
                pass_prefix=f"{tag}{k:03d}",
                route_seed=f"{seed}:{tag}",
                route_cache=route_cache,
            )
        )


# --- COPY ------------------------------------------------------------------------------------------------------

SEGMENT_COPY_COLUMNS = (
    "pass_id, segment_no, service_date, card_no, card_type, plate, plate_color, vehicle_class, entry_time, "
    "exit_time, toll_unit_id, province, entry_station, exit_station, pay_fee, discount_fee, fee"
)
TRIP_COPY_COLUMNS = (
    "pass_id, card_no, card_type, plate, plate_color, vehicle_class, entry_time, exit_time, service_date"
)


def _copy_legs(route: Route) -> list[tuple[int, int, str]]:
    """Per leg of a route: (entry offset, exit offset, the COPY text after the times)."""
    legs = route.formats.get("copy")
    if legs is None:
        stations = f"{route.entry_station}\t{route.exit_station}"  # the trip's entry and exit, on every segment
        legs = route.formats["copy"] = [
            (a, b, f"{unit.id}\t{unit.province}\t{stations}\t{pay}\t{discount}\t{pay - discount}\n")
            for unit, a, b, pay, discount in route.legs
        ]
    return legs


def trips_copy_text(trips: Iterable[TripDraft]) -> tuple[str, str, int]:
    """COPY text (tab-separated, columns SEGMENT_COPY_COLUMNS / TRIP_COPY_COLUMNS) for tolling_segment and
    tolling_trip, and the number of segment rows. A segment's service date is the Beijing date of its exit; a
    trip's is that of its first segment's exit."""
    days, tz = DAYS, _SECONDS_TZ
    seg_lines: list[str] = []
    trip_lines: list[str] = []
    add_seg = seg_lines.append
    for pass_id, card, start, route in trips:
        vehicle = f"{card[0]}\t{card[1]}\t{card[2]}\t{card[3]}\t{card[4]}"
        legs = route.formats.get("copy") or _copy_legs(route)
        day, second = divmod(start, 86_400)
        date = days[day]
        if second + legs[-1][1] < 86_400:  # the usual case: the whole trip on one day
            for no, (a, b, tail) in enumerate(legs, 1):
                add_seg(f"{pass_id}\t{no}\t{date}\t{vehicle}\t{date}{tz[second + a]}\t{date}{tz[second + b]}\t{tail}")
        else:
            for no, (a, b, tail) in enumerate(legs, 1):
                a += start
                b += start
                bday = days[b // 86_400]
                add_seg(
                    f"{pass_id}\t{no}\t{bday}\t{vehicle}\t{days[a // 86_400]}{tz[a % 86_400]}\t"
                    f"{bday}{tz[b % 86_400]}\t{tail}"
                )
        entry, end, first_exit = local_time_str(start), local_time_str(start + legs[-1][1]), start + legs[0][1]
        trip_lines.append(f"{pass_id}\t{vehicle}\t{entry}+08\t{end}+08\t{days[first_exit // 86_400]}\n")
    return "".join(seg_lines), "".join(trip_lines), len(seg_lines)


SEGMENT_CSV_HEADER = (
    "pass_id,segment_no,card_no,card_type,plate,plate_color,vehicle_class,toll_unit,entry_time,exit_time,"
    "entry_station,exit_station,pay_fee,discount_fee,fee\n"
)
"""The ``segments`` upload contract (product.md §4): money in yuan with two decimals, times Beijing."""


def _yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def _csv_legs(route: Route) -> list[tuple[int, int, str, str, str]]:
    """Per leg of a route, memoised on it: (entry offset, exit offset, ``,segment_no,``, ``toll_unit,``,
    ``,entry_station,exit_station,pay_fee,discount_fee,fee\n``); the caller fills in the rest."""
    legs = route.formats.get("csv")
    if legs is None:
        stations = f"{route.entry_station},{route.exit_station}"
        legs = route.formats["csv"] = [
            (a, b, f",{no},", f"{unit.code},", f",{stations},{_yuan(pay)},{_yuan(discount)},{_yuan(pay - discount)}\n")
            for no, (unit, a, b, pay, discount) in enumerate(route.legs, 1)
        ]
    return legs


def trips_csv_text(trips: Iterable[TripDraft]) -> str:
    """Upload-contract CSV rows (no header, see SEGMENT_CSV_HEADER) for generated trips."""
    days, secs = DAYS, SECONDS
    lines: list[str] = []
    add = lines.append
    for pass_id, card, start, route in trips:
        vehicle = f"{card[0]},{card[1]},{card[2]},{card[3]},{card[4]},"
        legs = route.formats.get("csv") or _csv_legs(route)
        day, second = divmod(start, 86_400)
        date = days[day]
        if second + legs[-1][1] < 86_400:  # the whole trip on one day
            for a, b, no, code, tail in legs:
                add(f"{pass_id}{no}{vehicle}{code}{date}{secs[second + a]},{date}{secs[second + b]}{tail}")
        else:
            for a, b, no, code, tail in legs:
                add(f"{pass_id}{no}{vehicle}{code}{local_time_str(start + a)},{local_time_str(start + b)}{tail}")
    return "".join(lines)


def copy_text(cursor: Any, table: str, columns: str, text: str) -> None:
    """COPY preformatted text into a table through a raw psycopg 3 cursor."""
    with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        copy.write(text)


def copy_rows(cursor: Any, table: str, columns: Sequence[str], rows: Iterable[Sequence[object]]) -> int:
    """COPY Python rows (str, int, None, datetime…) into a table through a raw psycopg 3 cursor."""
    count = 0
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def load_trip_chunks(cursor: Any, chunks: Iterable[list[TripDraft]]) -> tuple[int, int]:
    """COPY generated trips into tolling_segment and tolling_trip; returns (segments, trips)."""
    segments = trips = 0
    for chunk in chunks:
        seg_text, trip_text, n = trips_copy_text(chunk)
        copy_text(cursor, "tolling_segment", SEGMENT_COPY_COLUMNS, seg_text)
        copy_text(cursor, "tolling_trip", TRIP_COPY_COLUMNS, trip_text)
        segments += n
        trips += len(chunk)
    return segments, trips


def reserve_ids(cursor: Any, table: str, count: int) -> list[int]:
    """Take ``count`` ids from a table's identity sequence, for rows COPYed with explicit ids."""
    cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)", (table, count))
    return [row[0] for row in cursor.fetchall()]


def stored_units_by_province(provinces: Iterable[str] | None = None) -> dict[str, list[UnitRef]]:
    """The toll units in the database as the trip generator needs them, by province."""
    qs = TollUnit.objects.order_by("code")
    if provinces is not None:
        qs = qs.filter(province__in=list(provinces))
    out: dict[str, list[UnitRef]] = {}
    for unit_id, code, province, name in qs.values_list("id", "code", "province", "name"):
        out.setdefault(province, []).append(UnitRef.from_unit(unit_id, code, province, name))
    return out


def stored_cards() -> list[CardRef]:
    """The cards in the database that have a vehicle, in card-number order."""
    rows = (
        Card.objects.filter(vehicle__isnull=False)
        .order_by("card_no")
        .values_list(
            "card_no", "card_type", "vehicle__plate", "vehicle__plate_color", "vehicle__vehicle_class", "province"
        )
    )
    return [CardRef(no, ctype, plate, colour, vclass or 1, prov) for no, ctype, plate, colour, vclass, prov in rows]


def make_cards(rng: random.Random, count: int, *, provinces: Sequence[str], network: str = "90") -> list[CardRef]:
    """Cards that exist only in generated data (bench): unique numbers with operator digits ``network``."""
    colours = weighted_colours()
    seen: set[tuple[str, int]] = set()
    cards: list[CardRef] = []
    while len(cards) < count:
        province = rng.choice(provinces)
        colour = rng.choice(colours)
        plate = make_plate(rng, province=province, colour=colour, trailer=colour == 1 and rng.random() < 0.1)
        if (plate, colour) in seen:
            continue
        seen.add((plate, colour))
        ctype = 22 if rng.random() < 0.35 else 23
        card_no = f"{province}{network}{ctype}{len(cards):014d}"
        cards.append(CardRef(card_no, ctype, plate, colour, vehicle_class_for(rng, colour), province))
    return cards


# --- the seed --------------------------------------------------------------------------------------------------


@dataclass
class Country:
    operators: dict[str, list[Operator]]
    issuers: dict[str, Operator]
    units: dict[str, list[UnitRef]]
    taxis: list[tuple[Operator, str]]


def build_country(rng: random.Random, today: dt.date) -> tuple[Country, dict[str, int]]:
    provinces = sorted(ETC_PROVINCES)
    operators: list[Operator] = []
    by_province: dict[str, list[Operator]] = {}
    issuers: dict[str, Operator] = {}
    for p in provinces:
        short, full, places = PROVINCE_NAMES[p], full_province_name(p), PLACES[p]
        admin = Operator(
            kind=OperatorKind.ROAD_OPERATOR,
            name=f"{full}{rng.choice(('高速公路管理局', '收费公路管理中心'))}",
            tax_id=make_uscc(rng, division=f"{p}0000", registrar="12"),
            province=p,
        )
        roads = EXPRESSWAYS[p]
        candidates = [
            f"{short}交通控股有限公司",
            f"{short}高速公路集团有限公司",
            f"{short}交通投资集团有限公司",
            f"{short}{re.sub(r'^[GS][0-9]+', '', roads[0][1]).removesuffix('高速')}高速公路股份有限公司",
            f"{places[1][0]}{places[2][0]}高速公路有限公司",
        ]
        rng.shuffle(candidates)
        companies = [
            Operator(
                kind=OperatorKind.ROAD_OPERATOR,
                name=name,
                tax_id=make_uscc(rng, division=f"{p}{rng.randint(1, 9):02d}00"),
                province=p,
            )
            for name in candidates[: rng.randint(1, 3)]
        ]
        brand = "通行宝" if p == "32" else rng.choice(ISSUER_BRANDS[1:])
        issuers[p] = Operator(
            kind=OperatorKind.CARD_ISSUER,
            name=f"{short}{brand}智慧交通科技{'股份' if p in ('32', '37', '44') else ''}有限公司",
            tax_id=make_uscc(rng, division=f"{p}0100"),
            province=p,
        )
        by_province[p] = [admin, *companies]
        operators += [admin, *companies, issuers[p]]
    taxis = []
    for p, name, plate_prefix in TAXI_COMPANIES:
        taxi = Operator(
            kind=OperatorKind.TAXI_COMPANY,
            name=name,
            tax_id=make_uscc(rng, division=f"{p}0100"),
            province=p,
            tax_rate=Decimal("0.030"),
        )
        operators.append(taxi)
        taxis.append((taxi, plate_prefix))
    Operator.objects.bulk_create(operators)

    units: list[TollUnit] = []
    rates: list[TollUnitRate] = []
    change_day = today - dt.timedelta(days=rng.randint(20, 40))
    for p in provinces:
        admin, *companies = by_province[p]
        places = PLACES[p]
        unit_roads: list[tuple[str, str]] = [*EXPRESSWAYS[p], (f"S{rng.randint(10, 99):04d}", "")]
        for seq in range(rng.randint(10, 30)):
            road_code, road_name = rng.choice(unit_roads)
            a, b = rng.sample(places, 2)
            a, b = a + rng.choice(("", "东", "西", "南", "北")), b + rng.choice(("", "东", "西", "南", "北"))
            if not road_name:
                road_name = f"S{int(road_code[1:])}{a[0]}{b[0]}高速"
            loan = seq % 3 == 1 or (seq > 3 and rng.random() < 0.2)  # both natures in every province
            bridge = not loan and rng.random() < 0.12
            name = f"{a[:-1] if len(a) > 2 else a}大桥" if bridge else road_name
            unit = TollUnit(
                code=f"{road_code}{p}00{seq + 1:04d}{rng.choice('12')}00",
                name=f"{name}（{a}—{b}）",
                province=p,
                operator=admin if loan else rng.choice(companies),
                road_nature=RoadNature.LOAN if loan else RoadNature.COMMERCIAL,
            )
            units.append(unit)
            if not loan:
                rate = "0.05" if bridge else rng.choice(("0.03", "0.03", "0.03", "0.09", "0.09", "0.05"))
                rates.append(TollUnitRate(toll_unit=unit, tax_rate=Decimal(rate), valid_from=dt.date(2016, 5, 1)))
                if rng.random() < 0.15:  # a rate change inside the demo window
                    new = "0.09" if rate != "0.09" else "0.03"
                    rates.append(TollUnitRate(toll_unit=unit, tax_rate=Decimal(new), valid_from=change_day))
    TollUnit.objects.bulk_create(units)
    for r in rates:
        r.toll_unit_id = r.toll_unit.pk
    TollUnitRate.objects.bulk_create(rates)
    refs: dict[str, list[UnitRef]] = {}
    for u in units:
        refs.setdefault(u.province, []).append(UnitRef.from_unit(u.pk, u.code, u.province, u.name))
    country = Country(by_province, issuers, refs, taxis)
    return country, {"operators": len(operators), "toll_units": len(units), "toll_unit_rates": len(rates)}


def beijing_timestamp(seconds: int) -> str:
    return local_time_str(seconds) + "+08"


def build_facts(
    rng: random.Random, cursor: Any, country: Country, cards: list[CardRef], segments: int, seed: int, today: dt.date
) -> dict[str, int]:
    """Trips and segments (COPY in chunks), then top-ups, back-charges, paper tickets and taxi rides."""
    now_s = local_day(today) * 86_400
    small = max(10, segments // 100)
    sample: list[TripDraft] = []
    per_chunk = small // max(1, -(-segments // 50_000)) + 1

    def sampled(chunks: Iterable[list[TripDraft]]) -> Iterator[list[TripDraft]]:
        for chunk in chunks:
            sample.extend(rng.sample(chunk, min(len(chunk), per_chunk)))
            yield chunk

    chunks = trip_chunks(seed=seed, units_by_province=country.units, cards=cards, segments=segments, today=today)
    n_segments, n_trips = load_trip_chunks(cursor, sampled(chunks))

    prepaid = [c for c in cards if c.card_type == 22]
    topups = []
    for i in range(max(10, segments // 10) if prepaid else 0):
        card = rng.choice(prepaid)
        at = now_s - rng.randrange(90 * 86_400)
        topups.append(
            (
                f"TU{card.province}{day_str(at // 86_400)[2:].replace('-', '')}{i:08d}",
                day_str(at // 86_400),
                card.card_no,
                rng.choice(TOPUP_YUAN) * 100,
                beijing_timestamp(at),
                country.issuers[card.province].pk,
                card.province,
                rng.choice(TOPUP_CHANNELS),
            )
        )
    copy_rows(
        cursor,
        "tolling_topup",
        ["topup_id", "service_date", "card_no", "amount", "topped_up_at", "issuer_id", "province", "channel"],
        topups,
    )

    all_units = [u for units in country.units.values() for u in units]
    reasons = list(AuditReason.values)
    charges = []
    for i in range(small):
        reason = reasons[i] if i < len(reasons) else rng.choice(reasons)
        if sample and (i < len(reasons) or rng.random() < 0.6):  # every reason once with a real trip
            trip = sample[i % len(sample)]
            pass_id, card, _start, _route = trip
            segs = trip_segments(trip)
            unit = rng.choice(segs)[0]
            paid = min(segs[-1][2] + rng.randint(1, 20) * 86_400, now_s - rng.randrange(1, 3600))
            card_no, plate, colour = card.card_no, card.plate, card.plate_color
        else:
            card, unit = rng.choice(cards), rng.choice(all_units)
            paid = now_s - rng.randrange(1, 60 * 86_400)
            pass_id, card_no, plate, colour = (
                "",
                card.card_no if rng.random() < 0.5 else "",
                card.plate,
                card.plate_color,
            )
        amount = rng.randint(5, 300) * 100 + rng.choice((0, 0, 50, rng.randrange(100)))
        charge_id = f"AC{unit.province}{day_str(paid // 86_400)[2:].replace('-', '')}{i:07d}"
        charges.append(
            (
                charge_id,
                day_str(paid // 86_400),
                pass_id,
                card_no,
                plate,
                colour,
                unit.id,
                unit.province,
                reason,
                amount,
                beijing_timestamp(paid),
            )
        )
    copy_rows(
        cursor,
        "tolling_auditcharge",
        [
            "charge_id",
            "service_date",
            "pass_id",
            "card_no",
            "plate",
            "plate_color",
            "toll_unit_id",
            "province",
            "reason",
            "amount",
            "paid_at",
        ],
        charges,
    )

    tickets = []
    methods = list(PayMethod.values)
    for i in range(small):
        unit = rng.choice(all_units)
        colour = rng.choice((0, 0, 0, 0, 1, 4))
        vclass = vehicle_class_for(rng, colour)
        exit_s = now_s - rng.randrange(1, 60 * 86_400)
        amount = (unit.length_m * _RATE_FEN_PER_KM[vclass] + 50_000) // 100_000 * 100 or 100  # cash: whole yuan
        tickets.append(
            (
                f"{unit.province}{day_str(exit_s // 86_400)[2:].replace('-', '')}{i:08d}",
                day_str(exit_s // 86_400),
                unit.id,
                unit.province,
                make_plate(rng, province=unit.province, colour=colour),
                colour,
                vclass,
                beijing_timestamp(exit_s),
                amount,
                methods[i % 2] if i < 2 else rng.choice(methods),
            )
        )
    copy_rows(
        cursor,
        "tolling_paperticket",
        [
            "ticket_no",
            "service_date",
            "toll_unit_id",
            "province",
            "plate",
            "plate_color",
            "vehicle_class",
            "exit_time",
            "amount",
            "pay_method",
        ],
        tickets,
    )

    rides = []
    for i in range(small):
        company, prefix = rng.choice(country.taxis)
        start = now_s - rng.randrange(3600, 60 * 86_400)
        distance = rng.randint(1_500, 40_000)
        end = start + distance * rng.randint(90, 240) // 1000 + 60
        amount = 1300 + max(0, distance - 3000) * 230 // 1000 // 100 * 100
        tail = (
            _plate_tail(rng, 7 - len(prefix)) if len(prefix) == 2 else rng.choice(_CITY_LETTERS) + _plate_tail(rng, 5)
        )
        rides.append(
            (
                f"TX{company.province}{day_str(start // 86_400)[2:].replace('-', '')}{i:08d}",
                day_str(start // 86_400),
                company.pk,
                company.province,
                prefix + tail,
                beijing_timestamp(start),
                beijing_timestamp(end),
                distance,
                amount,
            )
        )
    copy_rows(
        cursor,
        "tolling_taxiride",
        [
            "ride_id",
            "service_date",
            "company_id",
            "province",
            "taxi_plate",
            "start_time",
            "end_time",
            "distance_m",
            "amount",
        ],
        rides,
    )
    return {
        "segments": n_segments,
        "trips": n_trips,
        "topups": len(topups),
        "audit_charges": len(charges),
        "paper_tickets": len(tickets),
        "taxi_rides": len(rides),
    }
