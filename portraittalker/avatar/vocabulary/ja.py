"""Japanese prompt words (the tables mean what they mean in ``en.py``).

Japanese is written without spaces, so a run of kana/kanji is read by a longest-match scan over every key
below (and the Chinese keys, which share the script; on a key both languages have, a prompt with kana gets
the Japanese meaning). Longer keys win, which is how 白髪 (white hair), 白人 (white person), 白昼 (daytime)
and 白衣 (a guard) are told apart from the colour 白; 赤ちゃん (baby) from 赤; 青年 / 青空 / 青白い from 青.

- ``WORDS`` values are ``(attribute, value)``, or several of them for words that are a noun plus an attribute
  (長髪 = hair + long, so "赤い長髪" makes long red hair).
- ``GUARDS``: words that contain a key but mean something else (海賊 pirate ⊃ 海 sea, 眼鏡 glasses ⊃ 眼
  eye, 空港 airport ⊃ 空 sky); they are read as one word and reported as not understood.
- ``STOPWORDS``: particles and filler, understood and ignored.
"""

from __future__ import annotations

HAIR = ("noun", "hair")
LONG, SHORT = ("hair_style", "long"), ("hair_style", "short")

COLORS = {
    # reds, oranges, copper
    "赤": "red", "赤い": "red", "赤色": "red", "真っ赤": "red", "真っ赤な": "red", "紅": "red", "紅色": "red",
    "深紅": "red", "朱色": "red", "レッド": "red", "オレンジ": "orange", "オレンジ色": "orange", "橙": "orange",
    "橙色": "orange", "銅色": "ginger", "赤茶": "auburn", "赤茶色": "auburn", "赤褐色": "auburn",
    # blondes
    "金": "blonde", "金色": "blonde", "黄金色": "blonde", "ブロンド": "blonde", "ゴールド": "blonde",
    "亜麻色": "blonde", "プラチナ": "platinum", "プラチナブロンド": "platinum",
    # browns
    "茶": "brown", "茶色": "brown", "茶色い": "brown", "褐色": "brown", "栗色": "brown", "ブラウン": "brown",
    "こげ茶": "dark-brown", "焦げ茶": "dark-brown", "こげ茶色": "dark-brown", "焦げ茶色": "dark-brown",
    "ダークブラウン": "dark-brown", "薄茶": "light-brown", "薄茶色": "light-brown", "ライトブラウン": "light-brown",
    # black, grey, white
    "黒": "black", "黒い": "black", "黒色": "black", "真っ黒": "black", "真っ黒な": "black", "漆黒": "black",
    "ブラック": "black", "灰色": "grey", "グレー": "grey", "グレイ": "grey", "銀": "grey", "銀色": "grey",
    "シルバー": "grey", "ねずみ色": "grey", "ごま塩": "salt-and-pepper", "胡麻塩": "salt-and-pepper",
    "白": "white", "白い": "white", "白色": "white", "真っ白": "white", "真っ白な": "white", "純白": "white",
    "ホワイト": "white",
    # blues, greens
    "青": "blue", "青い": "blue", "青色": "blue", "碧": "blue", "藍色": "blue", "ブルー": "blue",
    "水色": "light-blue", "空色": "light-blue", "ライトブルー": "light-blue", "紺": "navy", "紺色": "navy",
    "ネイビー": "navy", "緑": "green", "緑色": "green", "翠": "green", "グリーン": "green", "エメラルド": "green",
    "青緑": "teal", "ティール": "teal",
    # eye colours
    "ヘーゼル": "hazel", "はしばみ色": "hazel", "琥珀": "amber", "琥珀色": "amber", "アンバー": "amber",
    # pinks, purples, lip colours
    "ピンク": "pink", "ピンク色": "pink", "桃色": "pink", "桜色": "pink", "紫": "purple", "紫色": "purple",
    "パープル": "purple", "すみれ色": "purple", "コーラル": "coral", "珊瑚色": "coral", "ヌード": "nude",
    "ヌーディー": "nude", "ベージュ": "beige", "プラム": "plum", "ワインレッド": "plum", "ボルドー": "plum",
    "えんじ色": "plum", "臙脂": "plum",
    # others
    "黄": "yellow", "黄色": "yellow", "黄色い": "yellow", "イエロー": "yellow", "オリーブ": "olive",
    "オリーブ色": "olive", "クリーム色": "cream", "青白い": "pale",
    # modifiers (combine with a following colour: 明るい茶色 = light-brown, 濃い青 = dark-blue)
    "明るい": "light", "淡い": "light", "薄い": "light", "暗い": "dark", "濃い": "dark", "深い": "dark",
    "ダーク": "dark",
}
MODIFIERS = {"明るい", "淡い", "薄い", "暗い", "濃い", "深い", "ダーク"}
NOUNS = {
    "髪": "hair", "髪の毛": "hair", "頭髪": "hair", "毛髪": "hair", "髪型": "hair", "ヘア": "hair", "ヘアー": "hair",
    "ヘアスタイル": "hair",
    "目": "eyes", "眼": "eyes", "瞳": "eyes", "目の色": "eyes", "瞳の色": "eyes", "アイズ": "eyes",
    "唇": "lips", "くちびる": "lips", "リップ": "lips", "口紅": "lipstick", "ルージュ": "lipstick",
    "リップスティック": "lipstick",
    "肌": "skin", "皮膚": "skin", "素肌": "skin", "肌色": "skin", "肌の色": "skin", "スキン": "skin",
    "背景": "background", "背景色": "background", "バック": "background", "バックグラウンド": "background",
    "壁": "background",
    "ひげ": "beard", "ヒゲ": "beard", "髭": "beard", "鬚": "beard", "あごひげ": "beard", "あご髭": "beard",
    "顎ひげ": "beard", "顎髭": "beard", "顎鬚": "beard", "アゴヒゲ": "beard",
    "照明": "light", "ライト": "light", "ライティング": "light", "光": "light", "光線": "light", "明かり": "light",
    "灯り": "light",
}
WORDS: dict[str, tuple[str, str] | tuple[tuple[str, str], ...]] = {
    # age
    "子供": ("age", "child"), "子ども": ("age", "child"), "こども": ("age", "child"), "幼い": ("age", "child"),
    "幼児": ("age", "child"), "児童": ("age", "child"), "小学生": ("age", "child"), "キッズ": ("age", "child"),
    "赤ちゃん": ("age", "child"), "赤ん坊": ("age", "child"),
    "男の子": ("age+gender", "child:masculine"), "少年": ("age+gender", "child:masculine"),
    "女の子": ("age+gender", "child:feminine"), "少女": ("age+gender", "child:feminine"),
    "ティーン": ("age", "teen"), "ティーンエイジャー": ("age", "teen"), "十代": ("age", "teen"),
    "思春期": ("age", "teen"), "中学生": ("age", "teen"), "高校生": ("age", "teen"), "未成年": ("age", "teen"),
    "若い": ("age", "young"), "若者": ("age", "young"), "若々しい": ("age", "young"), "青春": ("age", "young"),
    "青年": ("age+gender", "young:masculine"), "お兄さん": ("age+gender", "young:masculine"),
    "お姉さん": ("age+gender", "young:feminine"),
    "大人": ("age", "adult"), "成人": ("age", "adult"),
    "中年": ("age", "middle-aged"), "壮年": ("age", "middle-aged"),
    "おじさん": ("age+gender", "middle-aged:masculine"), "おばさん": ("age+gender", "middle-aged:feminine"),
    "年配": ("age", "old"), "年老いた": ("age", "old"), "老いた": ("age", "old"), "初老": ("age", "old"),
    "しわ": ("age", "old"), "シワ": ("age", "old"), "皺": ("age", "old"), "しわだらけ": ("age", "old"),
    "老紳士": ("age+gender", "old:masculine"), "老婦人": ("age+gender", "old:feminine"),
    "老人": ("age", "elderly"), "老年": ("age", "elderly"), "高齢": ("age", "elderly"), "高齢者": ("age", "elderly"),
    "お年寄り": ("age", "elderly"), "シニア": ("age", "elderly"),
    "おじいさん": ("age+gender", "elderly:masculine"), "おじいちゃん": ("age+gender", "elderly:masculine"),
    "祖父": ("age+gender", "elderly:masculine"), "おばあさん": ("age+gender", "elderly:feminine"),
    "おばあちゃん": ("age+gender", "elderly:feminine"), "祖母": ("age+gender", "elderly:feminine"),
    # gender presentation
    "女性": ("gender", "feminine"), "女": ("gender", "feminine"), "女の人": ("gender", "feminine"),
    "女子": ("gender", "feminine"), "婦人": ("gender", "feminine"), "彼女": ("gender", "feminine"),
    "レディ": ("gender", "feminine"), "レディー": ("gender", "feminine"), "女優": ("gender", "feminine"),
    "男性": ("gender", "masculine"), "男": ("gender", "masculine"), "男の人": ("gender", "masculine"),
    "男子": ("gender", "masculine"), "紳士": ("gender", "masculine"), "彼": ("gender", "masculine"),
    "男優": ("gender", "masculine"),
    # hair colour and style
    "赤毛": ("hair_color", "red"), "しらが": ("hair_color", "white"), "白髪交じり": ("hair_color", "salt-and-pepper"),
    "白髪まじり": ("hair_color", "salt-and-pepper"), "ごま塩頭": ("hair_color", "salt-and-pepper"),
    "ハゲ": ("hair_style", "bald"), "はげ": ("hair_style", "bald"), "禿げ": ("hair_style", "bald"),
    "禿頭": ("hair_style", "bald"), "ハゲ頭": ("hair_style", "bald"), "スキンヘッド": ("hair_style", "bald"),
    "坊主": ("hair_style", "bald"), "坊主頭": ("hair_style", "bald"), "丸刈り": ("hair_style", "bald"),
    "長い": LONG, "ロング": LONG, "長髪": (HAIR, LONG), "ロングヘア": (HAIR, LONG), "ロングヘアー": (HAIR, LONG),
    "ポニーテール": (HAIR, LONG), "三つ編み": (HAIR, LONG), "おさげ": (HAIR, LONG),
    "短い": SHORT, "ショート": SHORT, "短髪": (HAIR, SHORT), "ショートヘア": (HAIR, SHORT),
    "ショートヘアー": (HAIR, SHORT), "ベリーショート": (HAIR, SHORT), "ボブ": (HAIR, SHORT),
    "おかっぱ": (HAIR, SHORT), "刈り上げ": (HAIR, SHORT),
    # facial hair (ひげ, 髭 ... are nouns: "白いひげ" is a white beard)
    "口ひげ": ("facial_hair", "moustache"), "口髭": ("facial_hair", "moustache"),
    "口ヒゲ": ("facial_hair", "moustache"), "くちひげ": ("facial_hair", "moustache"),
    "ちょびひげ": ("facial_hair", "moustache"), "ちょび髭": ("facial_hair", "moustache"),
    "山羊ひげ": ("facial_hair", "goatee"),
    "ヤギひげ": ("facial_hair", "goatee"), "やぎひげ": ("facial_hair", "goatee"), "山羊髭": ("facial_hair", "goatee"),
    "ゴーティー": ("facial_hair", "goatee"),
    "無精ひげ": ("facial_hair", "stubble"), "無精髭": ("facial_hair", "stubble"),
    "無精ヒゲ": ("facial_hair", "stubble"), "不精ひげ": ("facial_hair", "stubble"),
    "ひげ面": ("facial_hair", "beard"), "髭面": ("facial_hair", "beard"),
    "ひげなし": ("facial_hair", "none"), "ヒゲなし": ("facial_hair", "none"), "髭なし": ("facial_hair", "none"),
    "ひげのない": ("facial_hair", "none"), "ヒゲのない": ("facial_hair", "none"),
    "髭のない": ("facial_hair", "none"), "ひげがない": ("facial_hair", "none"),
    "ひげを剃った": ("facial_hair", "none"), "髭を剃った": ("facial_hair", "none"),
    # skin details and makeup
    "そばかす": ("freckles", "true"), "ソバカス": ("freckles", "true"), "雀斑": ("freckles", "true"),
    "そばかすのない": ("freckles", "false"), "そばかすなし": ("freckles", "false"),
    "化粧": ("makeup", "true"), "お化粧": ("makeup", "true"), "厚化粧": ("makeup", "true"),
    "メイク": ("makeup", "true"), "メイクアップ": ("makeup", "true"), "メーク": ("makeup", "true"),
    "アイシャドウ": ("makeup", "true"), "アイシャドー": ("makeup", "true"), "アイライン": ("makeup", "true"),
    "アイライナー": ("makeup", "true"), "マスカラ": ("makeup", "true"),
    "すっぴん": ("makeup", "false"), "スッピン": ("makeup", "false"), "素顔": ("makeup", "false"),
    "ノーメイク": ("makeup", "false"), "化粧なし": ("makeup", "false"), "メイクなし": ("makeup", "false"),
    # skin tone
    "色白": ("skin_tone", "fair"), "白人": ("skin_tone", "fair"), "蒼白": ("skin_tone", "pale"),
    "小麦色": ("skin_tone", "tan"), "小麦肌": ("skin_tone", "tan"), "日焼け": ("skin_tone", "tan"),
    "日焼けした": ("skin_tone", "tan"), "浅黒い": ("skin_tone", "tan"), "褐色肌": ("skin_tone", "brown"),
    "黒人": ("skin_tone", "deep"),
    # scene
    "スタジオ": ("scene", "studio"), "撮影スタジオ": ("scene", "studio"),
    "都市": ("scene", "city"), "都会": ("scene", "city"), "街": ("scene", "city"), "町": ("scene", "city"),
    "街中": ("scene", "city"), "街並み": ("scene", "city"), "市街": ("scene", "city"), "繁華街": ("scene", "city"),
    "ビル街": ("scene", "city"), "通り": ("scene", "city"), "路上": ("scene", "city"),
    "ストリート": ("scene", "city"), "ダウンタウン": ("scene", "city"),
    "ビーチ": ("scene", "beach"), "海": ("scene", "beach"), "海辺": ("scene", "beach"), "浜辺": ("scene", "beach"),
    "砂浜": ("scene", "beach"), "海岸": ("scene", "beach"), "海沿い": ("scene", "beach"),
    "森": ("scene", "forest"), "森林": ("scene", "forest"), "木々": ("scene", "forest"),
    "公園": ("scene", "forest"), "ジャングル": ("scene", "forest"), "木漏れ日": ("scene", "forest"),
    "オフィス": ("scene", "office"), "事務所": ("scene", "office"), "職場": ("scene", "office"),
    "会社": ("scene", "office"), "会議室": ("scene", "office"),
    "空": ("scene", "sky"), "青空": ("scene", "sky"), "大空": ("scene", "sky"), "雲": ("scene", "sky"),
    "図書館": ("scene", "library"), "書斎": ("scene", "library"), "本棚": ("scene", "library"),
    "書店": ("scene", "library"), "本屋": ("scene", "library"),
    "グリーンバック": ("background_named", "green"), "グリーンスクリーン": ("background_named", "green"),
    # time of day
    "夜": ("time_of_day", "night"), "夜間": ("time_of_day", "night"), "夜景": ("time_of_day", "night"),
    "深夜": ("time_of_day", "night"), "夜中": ("time_of_day", "night"), "真夜中": ("time_of_day", "night"),
    "月明かり": ("time_of_day", "night"), "月光": ("time_of_day", "night"),
    "夕方": ("time_of_day", "sunset"), "夕暮れ": ("time_of_day", "sunset"), "夕日": ("time_of_day", "sunset"),
    "夕陽": ("time_of_day", "sunset"), "夕焼け": ("time_of_day", "sunset"), "日没": ("time_of_day", "sunset"),
    "黄昏": ("time_of_day", "sunset"), "たそがれ": ("time_of_day", "sunset"), "日の出": ("time_of_day", "sunset"),
    "朝日": ("time_of_day", "sunset"), "朝焼け": ("time_of_day", "sunset"), "夜明け": ("time_of_day", "sunset"),
    "マジックアワー": ("time_of_day", "sunset"), "ゴールデンアワー": ("time_of_day", "sunset"),
    "サンセット": ("time_of_day", "sunset"),
    "昼": ("time_of_day", "day"), "昼間": ("time_of_day", "day"), "日中": ("time_of_day", "day"),
    "白昼": ("time_of_day", "day"), "午後": ("time_of_day", "day"), "昼下がり": ("time_of_day", "day"),
    "晴れ": ("time_of_day", "day"), "晴天": ("time_of_day", "day"), "快晴": ("time_of_day", "day"),
    "日差し": ("time_of_day", "day"),
    # lighting
    "柔らかい": ("lighting_style", "soft"), "やわらかい": ("lighting_style", "soft"),
    "柔らかな": ("lighting_style", "soft"), "やわらかな": ("lighting_style", "soft"),
    "ソフト": ("lighting_style", "soft"), "穏やかな": ("lighting_style", "soft"),
    "優しい": ("lighting_style", "soft"), "拡散光": ("lighting_style", "soft"), "淡い光": ("lighting_style", "soft"),
    "ドラマチック": ("lighting_style", "dramatic"), "ドラマティック": ("lighting_style", "dramatic"),
    "劇的": ("lighting_style", "dramatic"), "映画的": ("lighting_style", "dramatic"),
    "映画のような": ("lighting_style", "dramatic"), "シネマティック": ("lighting_style", "dramatic"),
    "ハイコントラスト": ("lighting_style", "dramatic"), "陰影": ("lighting_style", "dramatic"),
    "明暗": ("lighting_style", "dramatic"), "ムーディー": ("lighting_style", "dramatic"),
    "ムーディ": ("lighting_style", "dramatic"),
    "自然光": ("lighting_style", "natural"), "自然な光": ("lighting_style", "natural"),
    "ナチュラル": ("lighting_style", "natural"), "日光": ("lighting_style", "natural"),
    "ネオン": ("lighting_style", "neon"), "ネオンサイン": ("lighting_style", "neon"),
    "サイバーパンク": ("lighting_style", "neon"),
    "スタジオ照明": ("lighting_style", "studio"), "スタジオライト": ("lighting_style", "studio"),
    "スタジオライティング": ("lighting_style", "studio"), "撮影用照明": ("lighting_style", "studio"),
    "暖かい": ("light_temperature", "warm"), "温かい": ("light_temperature", "warm"),
    "あたたかい": ("light_temperature", "warm"), "暖かな": ("light_temperature", "warm"),
    "温かな": ("light_temperature", "warm"), "暖色": ("light_temperature", "warm"),
    "暖色系": ("light_temperature", "warm"), "ウォーム": ("light_temperature", "warm"),
    "白熱灯": ("light_temperature", "warm"), "電球色": ("light_temperature", "warm"),
    "冷たい": ("light_temperature", "cold"), "寒色": ("light_temperature", "cold"),
    "寒色系": ("light_temperature", "cold"), "クール": ("light_temperature", "cold"),
    "蛍光灯": ("light_temperature", "cold"),
    "逆光": ("rim_light", "true"), "リムライト": ("rim_light", "true"), "輪郭光": ("rim_light", "true"),
    "バックライト": ("rim_light", "true"),
    # film look
    "フィルム": ("film_grain", "true"), "フィルム写真": ("film_grain", "true"), "フィルム風": ("film_grain", "true"),
    "フィルムグレイン": ("film_grain", "true"), "グレイン": ("film_grain", "true"), "粒子": ("film_grain", "true"),
    "粒子感": ("film_grain", "true"), "ざらざら": ("film_grain", "true"), "アナログ": ("film_grain", "true"),
    "銀塩": ("film_grain", "true"),
    "ビンテージ": ("vintage", "true"), "ヴィンテージ": ("vintage", "true"), "レトロ": ("vintage", "true"),
    "昭和": ("vintage", "true"), "昭和風": ("vintage", "true"), "古風": ("vintage", "true"),
    "懐かしい": ("vintage", "true"), "ノスタルジック": ("vintage", "true"), "セピア": ("vintage", "true"),
}
GUARDS = {
    "海賊", "海老", "海外", "海軍", "海苔", "海鮮",  # 海 sea
    "空港", "空気", "空間", "空手", "空白", "空腹",  # 空 sky
    "眼鏡", "目立つ", "目的", "目標",  # 目/眼 eye
    "白衣", "白黒", "白鳥",  # 白 white
    "金属", "金曜", "金曜日", "お金", "金持ち",  # 金 gold
    "緑茶", "紅茶", "お茶", "喫茶", "喫茶店", "茶道",  # 茶 brown, 紅 red
    "黒板", "昼食", "光沢",
    "先生",  # teacher in Japanese (Chinese 先生 = Mr, masculine)
    "他の", "その他", "他人",  # 他 = other in Japanese (Chinese 他 = he)
}
STOPWORDS = {
    "の", "な", "で", "と", "に", "が", "は", "を", "も", "や", "へ", "から", "まで", "より", "した", "して",
    "している", "された", "ある", "いる", "です", "である", "という", "のある", "のような", "ような", "みたいな",
    "人", "人物", "一人", "ひとり", "顔", "顔写真", "写真", "ポートレート", "肖像", "肖像画", "姿", "スタイル",
    "色", "風", "感じ", "雰囲気", "着た", "かけた", "持つ", "持った", "少し", "とても", "すごく", "非常に",
    "高画質", "リアル", "リアルな", "写実的", "写実的な", "正面", "話す", "話している", "喋る", "頭", "アバター",
    "中", "背後", "前", "立つ", "立っている", "座る", "座っている",
}
PERSON_NOUNS = {"女性", "男性", "女", "男", "人", "女の人", "男の人", "人物", "婦人", "紳士", "子供", "少年",
                "少女", "男の子", "女の子"}
