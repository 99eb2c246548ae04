"""Korean prompt words (the tables mean what they mean in ``en.py``). Korean is written with spaces between
words, and particles glue onto the word before them: a word matches its longest stem in these tables when
what follows the stem is one of ``SUFFIXES`` ("머리의" = 머리 + 의, "초록색의" = 초록 + 색 + 의).
"""

from __future__ import annotations

COLORS = {
    "붉은": "red", "빨간": "red", "빨강": "red", "적갈색": "auburn", "주황": "orange", "금색": "blonde",
    "노란": "yellow", "갈색": "brown", "밤색": "brown", "검은": "black", "검정": "black", "까만": "black",
    "흑색": "black", "회색": "grey", "은색": "grey", "흰": "white", "하얀": "white", "흰색": "white",
    "파란": "blue", "푸른": "blue", "파랑": "blue", "초록": "green", "녹색": "green", "분홍": "pink",
    "핑크": "pink", "보라": "purple", "베이지": "beige", "창백한": "pale", "밝은": "light", "어두운": "dark",
    "황갈색": "hazel", "호박색": "amber",
}
NOUNS = {
    "머리카락": "hair", "머리": "hair", "헤어": "hair", "눈동자": "eyes", "눈": "eyes", "입술": "lips",
    "립스틱": "lipstick", "피부": "skin", "배경": "background", "수염": "beard", "조명": "light",
}
WORDS: dict[str, tuple[str, str]] = {
    "어린이": ("age", "child"), "아이": ("age", "child"), "어린": ("age", "child"),
    "소년": ("age+gender", "child:masculine"),
    "소녀": ("age+gender", "child:feminine"), "십대": ("age", "teen"), "청소년": ("age", "teen"),
    "젊은": ("age", "young"), "청년": ("age+gender", "young:masculine"), "중년": ("age", "middle-aged"),
    "나이든": ("age", "old"), "나이 든": ("age", "old"), "늙은": ("age", "old"), "노인": ("age", "elderly"),
    "할머니": ("age+gender", "elderly:feminine"), "할아버지": ("age+gender", "elderly:masculine"),
    "여성": ("gender", "feminine"), "여자": ("gender", "feminine"), "남성": ("gender", "masculine"),
    "남자": ("gender", "masculine"), "금발": ("hair_color", "blonde"), "백발": ("hair_color", "white"),
    "은발": ("hair_color", "grey"), "흑발": ("hair_color", "black"), "갈색머리": ("hair_color", "brown"),
    "빨간머리": ("hair_color", "red"), "대머리": ("hair_style", "bald"), "긴": ("hair_style", "long"),
    "짧은": ("hair_style", "short"), "턱수염": ("facial_hair", "beard"), "콧수염": ("facial_hair", "moustache"),
    "염소수염": ("facial_hair", "goatee"), "수염": ("facial_hair", "beard"), "면도한": ("facial_hair", "none"),
    "주근깨": ("freckles", "true"), "화장": ("makeup", "true"), "메이크업": ("makeup", "true"),
    "립스틱": ("lip_color", "red"), "스튜디오": ("scene", "studio"), "도시": ("scene", "city"),
    "거리": ("scene", "city"), "길거리": ("scene", "city"), "해변": ("scene", "beach"), "바다": ("scene", "beach"),
    "숲": ("scene", "forest"), "공원": ("scene", "forest"), "사무실": ("scene", "office"),
    "하늘": ("scene", "sky"), "도서관": ("scene", "library"), "밤": ("time_of_day", "night"),
    "야경": ("time_of_day", "night"), "노을": ("time_of_day", "sunset"), "일몰": ("time_of_day", "sunset"),
    "석양": ("time_of_day", "sunset"), "낮": ("time_of_day", "day"), "부드러운": ("lighting_style", "soft"),
    "은은한": ("lighting_style", "soft"), "극적인": ("lighting_style", "dramatic"),
    "드라마틱한": ("lighting_style", "dramatic"), "자연광": ("lighting_style", "natural"),
    "네온": ("lighting_style", "neon"), "따뜻한": ("light_temperature", "warm"),
    "차가운": ("light_temperature", "cold"), "역광": ("rim_light", "true"), "림라이트": ("rim_light", "true"),
    "필름": ("film_grain", "true"), "그레인": ("film_grain", "true"), "빈티지": ("vintage", "true"),
    "레트로": ("vintage", "true"), "까무잡잡한": ("skin_tone", "tan"), "구릿빛": ("skin_tone", "tan"),
    "흑인": ("skin_tone", "deep"), "하얀피부": ("skin_tone", "fair"),
}
STOPWORDS = {
    "그리고", "사람", "얼굴", "사진", "초상화", "인물", "있는", "가진", "하는", "된", "및", "모습", "스타일", "색",
    "색의", "색깔", "배경", "조명", "빛", "입은", "쓴", "약간", "매우", "아주",
}
# Particles/endings that may be glued to a vocabulary stem.
SUFFIXES = ("으로", "에서", "이고", "이며", "이다", "의", "을", "를", "이", "가", "은", "는", "에", "와", "과",
            "로", "도", "인", "한", "색", "빛")
PERSON_NOUNS = {"여성", "남성", "여자", "남자", "사람"}
