"""Chinese prompt words (the tables mean what they mean in ``en.py``), written in simplified characters;
``TRADITIONAL`` turns each key into its traditional form where that differs (头发 -> 頭髮, 红色 -> 紅色), and
both forms are matched.

Chinese is written without spaces, so a run of hanzi is read by a longest-match scan over every key below
(and the Japanese keys, which share the script; on a key both languages have, a prompt without kana gets the
Chinese meaning). Longer keys win: 白天 (daytime), 白人 (white person), 白皙 (fair skin), 白金 (platinum),
白云 (clouds: sky) are not the colour 白; 蓝天 (blue sky) is not 蓝; 黄昏 (dusk) is not 黄; 祖母绿
(emerald) is not 祖母 (grandmother); 没有胡子 (no beard) is not 胡子 (beard).

- ``WORDS`` values are ``(attribute, value)``, or several of them for words that are a noun plus an attribute
  (短发 = hair + short, so "红色短发" makes short red hair).
- ``GUARDS``: words that contain a key but mean something else (海盗 pirate ⊃ 海 sea, 眼镜 glasses ⊃ 眼 eye,
  发光 glowing ⊃ 发 hair); they are read as one word and reported as not understood.
- ``STOPWORDS``: particles, measure words and filler, understood and ignored.
"""

from __future__ import annotations

HAIR = ("noun", "hair")
LONG, SHORT = ("hair_style", "long"), ("hair_style", "short")

COLORS = {
    # reds, oranges, copper
    "红": "red", "红色": "red", "大红": "red", "鲜红": "red", "火红": "red", "绯红": "red", "赤红": "red",
    "橙": "orange", "橙色": "orange", "橘色": "orange", "橘黄色": "orange", "橘红色": "orange",
    "铜色": "ginger", "红棕色": "auburn", "红褐色": "auburn", "赤褐色": "auburn",
    # blondes
    "金": "blonde", "金色": "blonde", "金黄": "blonde", "金黄色": "blonde", "黄金": "blonde", "亚麻色": "blonde",
    "铂金": "platinum", "铂金色": "platinum", "白金": "platinum", "白金色": "platinum",
    # browns
    "棕": "brown", "棕色": "brown", "褐": "brown", "褐色": "brown", "咖啡色": "brown", "栗色": "brown",
    "栗棕色": "brown", "茶色": "brown", "巧克力色": "brown",
    # black, grey, white
    "黑": "black", "黑色": "black", "乌黑": "black", "漆黑": "black", "墨黑": "black",
    "灰": "grey", "灰色": "grey", "银": "grey", "银色": "grey", "银灰色": "grey", "银白色": "grey",
    "花白": "salt-and-pepper", "斑白": "salt-and-pepper", "灰白": "salt-and-pepper", "椒盐色": "salt-and-pepper",
    "白": "white", "白色": "white", "雪白": "white", "纯白": "white", "洁白": "white",
    # blues, greens
    "蓝": "blue", "蓝色": "blue", "湛蓝": "blue", "碧蓝": "blue", "宝蓝": "blue", "碧": "blue",
    "天蓝": "light-blue", "天蓝色": "light-blue", "藏青": "navy", "藏青色": "navy", "藏蓝": "navy",
    "海军蓝": "navy", "绿": "green", "绿色": "green", "翠绿": "green", "碧绿": "green", "墨绿": "green",
    "祖母绿": "green", "青色": "teal", "青绿色": "teal",
    # eye colours
    "榛色": "hazel", "榛子色": "hazel", "琥珀": "amber", "琥珀色": "amber",
    # pinks, purples, lip colours
    "粉色": "pink", "粉红": "pink", "粉红色": "pink", "桃红": "pink", "桃红色": "pink", "桃色": "pink",
    "樱花色": "pink", "紫": "purple", "紫色": "purple", "紫罗兰色": "purple", "珊瑚色": "coral",
    "珊瑚红": "coral", "裸色": "nude", "豆沙色": "nude", "梅子色": "plum", "李子色": "plum", "酒红": "plum",
    "酒红色": "plum", "枣红": "plum", "枣红色": "plum", "紫红色": "plum",
    # others
    "黄": "yellow", "黄色": "yellow", "米色": "beige", "米黄色": "beige", "米白色": "beige", "奶油色": "cream",
    "橄榄色": "olive", "橄榄绿": "olive",
    # modifiers (combine with a following colour: 浅棕色 = light-brown, 深蓝 = dark-blue)
    "浅": "light", "淡": "light", "浅色": "light", "淡色": "light", "深": "dark", "暗": "dark", "深色": "dark",
    "暗色": "dark",
}
MODIFIERS = {"浅", "淡", "浅色", "淡色", "深", "暗", "深色", "暗色"}
NOUNS = {
    "头发": "hair", "发": "hair", "发色": "hair", "秀发": "hair", "发型": "hair", "发丝": "hair", "卷发": "hair",
    "直发": "hair", "刘海": "hair",
    "眼睛": "eyes", "眼": "eyes", "眼眸": "eyes", "双眼": "eyes", "眸": "eyes", "眸子": "eyes", "瞳": "eyes",
    "瞳孔": "eyes", "眼珠": "eyes", "瞳色": "eyes",
    "嘴唇": "lips", "唇": "lips", "双唇": "lips", "唇色": "lips",
    "口红": "lipstick", "唇膏": "lipstick", "唇彩": "lipstick", "唇釉": "lipstick",
    "皮肤": "skin", "肤色": "skin", "肌肤": "skin", "肤": "skin", "脸色": "skin",
    "背景": "background", "背景色": "background", "底色": "background", "背景墙": "background", "墙": "background",
    "幕布": "background",
    "胡子": "beard", "胡须": "beard", "络腮胡": "beard", "络腮胡子": "beard", "大胡子": "beard",
    "长胡子": "beard",
    "灯光": "light", "光线": "light", "光": "light", "照明": "light", "光照": "light", "打光": "light",
    "灯": "light", "光影": "light", "布光": "light",
}
WORDS: dict[str, tuple[str, str] | tuple[tuple[str, str], ...]] = {
    # age
    "儿童": ("age", "child"), "孩子": ("age", "child"), "小孩": ("age", "child"), "小孩子": ("age", "child"),
    "孩童": ("age", "child"), "幼儿": ("age", "child"), "婴儿": ("age", "child"), "宝宝": ("age", "child"),
    "男孩": ("age+gender", "child:masculine"), "男孩子": ("age+gender", "child:masculine"),
    "小男孩": ("age+gender", "child:masculine"), "男童": ("age+gender", "child:masculine"),
    "少年": ("age+gender", "child:masculine"),
    "女孩": ("age+gender", "child:feminine"), "女孩子": ("age+gender", "child:feminine"),
    "小女孩": ("age+gender", "child:feminine"), "女童": ("age+gender", "child:feminine"),
    "少女": ("age+gender", "child:feminine"),
    "青少年": ("age", "teen"), "青春期": ("age", "teen"), "中学生": ("age", "teen"), "高中生": ("age", "teen"),
    "未成年": ("age", "teen"),
    "年轻": ("age", "young"), "年青": ("age", "young"), "青春": ("age", "young"),
    "青年": ("age+gender", "young:masculine"), "小伙子": ("age+gender", "young:masculine"),
    "小伙": ("age+gender", "young:masculine"), "帅哥": ("age+gender", "young:masculine"),
    "姑娘": ("age+gender", "young:feminine"), "美女": ("age+gender", "young:feminine"),
    "成年": ("age", "adult"), "成人": ("age", "adult"), "成年人": ("age", "adult"),
    "中年": ("age", "middle-aged"), "中年人": ("age", "middle-aged"),
    "大叔": ("age+gender", "middle-aged:masculine"), "阿姨": ("age+gender", "middle-aged:feminine"),
    "大妈": ("age+gender", "middle-aged:feminine"),
    "年长": ("age", "old"), "年老": ("age", "old"), "年迈": ("age", "old"), "上了年纪": ("age", "old"),
    "皱纹": ("age", "old"), "满脸皱纹": ("age", "old"),
    "老男人": ("age+gender", "old:masculine"), "老女人": ("age+gender", "old:feminine"),
    "老妇": ("age+gender", "old:feminine"), "老妇人": ("age+gender", "old:feminine"),
    "老人": ("age", "elderly"), "老年": ("age", "elderly"), "老年人": ("age", "elderly"), "老者": ("age", "elderly"),
    "长者": ("age", "elderly"), "高龄": ("age", "elderly"),
    "老头": ("age+gender", "elderly:masculine"), "老头子": ("age+gender", "elderly:masculine"),
    "老大爷": ("age+gender", "elderly:masculine"), "老先生": ("age+gender", "elderly:masculine"),
    "老爷爷": ("age+gender", "elderly:masculine"), "老爷子": ("age+gender", "elderly:masculine"),
    "爷爷": ("age+gender", "elderly:masculine"), "祖父": ("age+gender", "elderly:masculine"),
    "外公": ("age+gender", "elderly:masculine"),
    "老奶奶": ("age+gender", "elderly:feminine"), "奶奶": ("age+gender", "elderly:feminine"),
    "老太太": ("age+gender", "elderly:feminine"), "老太婆": ("age+gender", "elderly:feminine"),
    "祖母": ("age+gender", "elderly:feminine"), "外婆": ("age+gender", "elderly:feminine"),
    # gender presentation
    "女": ("gender", "feminine"), "女性": ("gender", "feminine"), "女人": ("gender", "feminine"),
    "女子": ("gender", "feminine"), "女士": ("gender", "feminine"), "妇女": ("gender", "feminine"),
    "女生": ("gender", "feminine"), "女郎": ("gender", "feminine"), "小姐": ("gender", "feminine"),
    "夫人": ("gender", "feminine"), "她": ("gender", "feminine"),
    "男": ("gender", "masculine"), "男性": ("gender", "masculine"), "男人": ("gender", "masculine"),
    "男子": ("gender", "masculine"), "男士": ("gender", "masculine"), "男生": ("gender", "masculine"),
    "绅士": ("gender", "masculine"), "先生": ("gender", "masculine"), "他": ("gender", "masculine"),
    # hair style (colours: 红发 = 红 + 发, 金发 = 金 + 发 ...)
    "光头": ("hair_style", "bald"), "秃头": ("hair_style", "bald"), "秃顶": ("hair_style", "bald"),
    "谢顶": ("hair_style", "bald"), "秃": ("hair_style", "bald"), "剃光头": ("hair_style", "bald"),
    "没有头发": ("hair_style", "bald"),
    "长发": (HAIR, LONG), "长头发": (HAIR, LONG), "披肩发": (HAIR, LONG), "长卷发": (HAIR, LONG),
    "长直发": (HAIR, LONG), "马尾": (HAIR, LONG), "马尾辫": (HAIR, LONG), "辫子": (HAIR, LONG),
    "麻花辫": (HAIR, LONG), "长长": LONG, "很长": LONG, "及腰": LONG,
    "短发": (HAIR, SHORT), "短头发": (HAIR, SHORT), "短卷发": (HAIR, SHORT), "寸头": (HAIR, SHORT),
    "平头": (HAIR, SHORT), "板寸": (HAIR, SHORT), "波波头": (HAIR, SHORT), "齐耳短发": (HAIR, SHORT),
    "短": SHORT,
    "白发苍苍": (("color", "white"), HAIR),
    # facial hair (胡子, 胡须 ... are nouns: "白胡子" is a white beard)
    "山羊胡": ("facial_hair", "goatee"), "山羊胡子": ("facial_hair", "goatee"), "山羊须": ("facial_hair", "goatee"),
    "小胡子": ("facial_hair", "moustache"), "八字胡": ("facial_hair", "moustache"),
    "八字须": ("facial_hair", "moustache"), "一字胡": ("facial_hair", "moustache"),
    "胡茬": ("facial_hair", "stubble"), "胡渣": ("facial_hair", "stubble"), "胡碴": ("facial_hair", "stubble"),
    "短须": ("facial_hair", "stubble"),
    "没有胡子": ("facial_hair", "none"), "没胡子": ("facial_hair", "none"), "无胡子": ("facial_hair", "none"),
    "无须": ("facial_hair", "none"), "剃须": ("facial_hair", "none"), "刮胡子": ("facial_hair", "none"),
    "刮了胡子": ("facial_hair", "none"), "刮干净胡子": ("facial_hair", "none"),
    # skin details and makeup
    "雀斑": ("freckles", "true"), "晒斑": ("freckles", "true"), "没有雀斑": ("freckles", "false"),
    "无雀斑": ("freckles", "false"),
    "化妆": ("makeup", "true"), "化了妆": ("makeup", "true"), "妆容": ("makeup", "true"), "彩妆": ("makeup", "true"),
    "浓妆": ("makeup", "true"), "淡妆": ("makeup", "true"), "妆": ("makeup", "true"), "眼影": ("makeup", "true"),
    "眼线": ("makeup", "true"), "睫毛膏": ("makeup", "true"),
    "素颜": ("makeup", "false"), "无妆": ("makeup", "false"), "没化妆": ("makeup", "false"),
    "不化妆": ("makeup", "false"), "没有化妆": ("makeup", "false"),
    # skin tone
    "白皙": ("skin_tone", "fair"), "白人": ("skin_tone", "fair"), "苍白": ("skin_tone", "pale"),
    "小麦色": ("skin_tone", "tan"), "小麦肤色": ("skin_tone", "tan"), "古铜色": ("skin_tone", "tan"),
    "古铜": ("skin_tone", "tan"), "晒黑": ("skin_tone", "tan"), "黝黑": ("skin_tone", "dark"),
    "黑黝黝": ("skin_tone", "dark"), "黑人": ("skin_tone", "deep"),
    # scene
    "影棚": ("scene", "studio"), "摄影棚": ("scene", "studio"), "工作室": ("scene", "studio"),
    "演播室": ("scene", "studio"),
    "城市": ("scene", "city"), "都市": ("scene", "city"), "街道": ("scene", "city"), "街头": ("scene", "city"),
    "街": ("scene", "city"), "大街": ("scene", "city"), "街景": ("scene", "city"), "马路": ("scene", "city"),
    "市区": ("scene", "city"), "市中心": ("scene", "city"), "城区": ("scene", "city"), "闹市": ("scene", "city"),
    "路边": ("scene", "city"),
    "海滩": ("scene", "beach"), "沙滩": ("scene", "beach"), "海边": ("scene", "beach"), "海岸": ("scene", "beach"),
    "海滨": ("scene", "beach"), "海": ("scene", "beach"), "大海": ("scene", "beach"),
    "森林": ("scene", "forest"), "树林": ("scene", "forest"), "丛林": ("scene", "forest"),
    "林间": ("scene", "forest"), "林中": ("scene", "forest"), "树木": ("scene", "forest"),
    "大树": ("scene", "forest"), "树下": ("scene", "forest"), "公园": ("scene", "forest"),
    "办公室": ("scene", "office"), "写字楼": ("scene", "office"), "职场": ("scene", "office"),
    "会议室": ("scene", "office"), "公司": ("scene", "office"),
    "天空": ("scene", "sky"), "蓝天": ("scene", "sky"), "空中": ("scene", "sky"), "晴空": ("scene", "sky"),
    "云端": ("scene", "sky"), "白云": ("scene", "sky"), "云朵": ("scene", "sky"), "云": ("scene", "sky"),
    "图书馆": ("scene", "library"), "书房": ("scene", "library"), "书架": ("scene", "library"),
    "书店": ("scene", "library"),
    "绿幕": ("background_named", "green"), "绿屏": ("background_named", "green"),
    # time of day
    "夜晚": ("time_of_day", "night"), "夜": ("time_of_day", "night"), "晚上": ("time_of_day", "night"),
    "夜间": ("time_of_day", "night"), "夜里": ("time_of_day", "night"), "夜景": ("time_of_day", "night"),
    "夜色": ("time_of_day", "night"), "夜幕": ("time_of_day", "night"), "深夜": ("time_of_day", "night"),
    "午夜": ("time_of_day", "night"), "黑夜": ("time_of_day", "night"), "月光": ("time_of_day", "night"),
    "日落": ("time_of_day", "sunset"), "落日": ("time_of_day", "sunset"), "黄昏": ("time_of_day", "sunset"),
    "夕阳": ("time_of_day", "sunset"), "傍晚": ("time_of_day", "sunset"), "晚霞": ("time_of_day", "sunset"),
    "余晖": ("time_of_day", "sunset"), "日出": ("time_of_day", "sunset"), "黎明": ("time_of_day", "sunset"),
    "清晨": ("time_of_day", "sunset"), "黄金时刻": ("time_of_day", "sunset"),
    "黄金时段": ("time_of_day", "sunset"),
    "白天": ("time_of_day", "day"), "白昼": ("time_of_day", "day"), "日间": ("time_of_day", "day"),
    "阳光": ("time_of_day", "day"), "阳光明媚": ("time_of_day", "day"), "晴天": ("time_of_day", "day"),
    "中午": ("time_of_day", "day"), "正午": ("time_of_day", "day"), "上午": ("time_of_day", "day"),
    "下午": ("time_of_day", "day"),
    # lighting
    "柔和": ("lighting_style", "soft"), "柔光": ("lighting_style", "soft"), "柔美": ("lighting_style", "soft"),
    "温柔": ("lighting_style", "soft"), "漫射": ("lighting_style", "soft"), "漫射光": ("lighting_style", "soft"),
    "散射光": ("lighting_style", "soft"),
    "戏剧性": ("lighting_style", "dramatic"), "戏剧化": ("lighting_style", "dramatic"),
    "戏剧": ("lighting_style", "dramatic"), "电影感": ("lighting_style", "dramatic"),
    "电影般": ("lighting_style", "dramatic"), "电影": ("lighting_style", "dramatic"),
    "高对比度": ("lighting_style", "dramatic"), "高对比": ("lighting_style", "dramatic"),
    "高反差": ("lighting_style", "dramatic"), "明暗对比": ("lighting_style", "dramatic"),
    "伦勃朗光": ("lighting_style", "dramatic"), "昏暗": ("lighting_style", "dramatic"),
    "暗调": ("lighting_style", "dramatic"), "低调": ("lighting_style", "dramatic"),
    "自然光": ("lighting_style", "natural"), "自然光线": ("lighting_style", "natural"),
    "自然": ("lighting_style", "natural"),
    "霓虹": ("lighting_style", "neon"), "霓虹灯": ("lighting_style", "neon"), "赛博朋克": ("lighting_style", "neon"),
    "影棚灯光": ("lighting_style", "studio"), "影棚光": ("lighting_style", "studio"),
    "影棚照明": ("lighting_style", "studio"), "摄影棚灯光": ("lighting_style", "studio"),
    "工作室灯光": ("lighting_style", "studio"), "棚拍": ("lighting_style", "studio"),
    "专业灯光": ("lighting_style", "studio"),
    "暖": ("light_temperature", "warm"), "温暖": ("light_temperature", "warm"),
    "暖色": ("light_temperature", "warm"), "暖光": ("light_temperature", "warm"),
    "暖色调": ("light_temperature", "warm"), "暖调": ("light_temperature", "warm"),
    "暖和": ("light_temperature", "warm"), "温馨": ("light_temperature", "warm"),
    "暖黄": ("light_temperature", "warm"),
    "冷": ("light_temperature", "cold"), "冷色": ("light_temperature", "cold"),
    "冷光": ("light_temperature", "cold"), "冷色调": ("light_temperature", "cold"),
    "冷调": ("light_temperature", "cold"), "清冷": ("light_temperature", "cold"),
    "逆光": ("rim_light", "true"), "轮廓光": ("rim_light", "true"), "边缘光": ("rim_light", "true"),
    "背光": ("rim_light", "true"),
    # film look
    "胶片": ("film_grain", "true"), "胶片感": ("film_grain", "true"), "胶片颗粒": ("film_grain", "true"),
    "颗粒": ("film_grain", "true"), "颗粒感": ("film_grain", "true"), "噪点": ("film_grain", "true"),
    "胶卷": ("film_grain", "true"), "菲林": ("film_grain", "true"), "底片": ("film_grain", "true"),
    "复古": ("vintage", "true"), "怀旧": ("vintage", "true"), "老照片": ("vintage", "true"),
    "旧照片": ("vintage", "true"), "年代感": ("vintage", "true"), "老式": ("vintage", "true"),
}
GUARDS = {
    "海盗", "海报", "海鲜", "海关", "海豚", "上海",  # 海 sea
    "眼镜", "眼前",  # 眼 eye
    "发光", "发亮", "发现", "发出", "出发", "沙发",  # 发 = hair, but also "emit" in simplified script
    "空白", "空间", "空气", "空调",  # 空 sky (a Japanese key)
    "漂亮", "暗淡", "金属", "其他", "彼此",
}
STOPWORDS = {
    "的", "地", "得", "和", "与", "及", "并", "且", "还", "也", "有", "没有", "在", "是", "着", "了", "戴", "戴着",
    "穿", "穿着", "带", "带着", "拥有", "一位", "一个", "一名", "一张", "这位", "那位", "这个", "位", "个", "名",
    "一", "人", "人物", "他们", "她们", "脸", "脸部", "面部", "面孔", "照片", "肖像", "肖像画", "头像", "写实",
    "逼真", "高清", "高质量", "风格", "样子", "模样", "很", "非常", "十分", "有点", "略", "略微", "稍微", "一些",
    "色", "颜色", "中", "里", "上", "下", "前", "站在", "坐在", "镜头", "面对镜头", "正面", "说话", "讲话",
    "正在", "留", "留着", "留有",
}
PERSON_NOUNS = {"女性", "男性", "女人", "男人", "女", "男", "人", "女士", "男士", "女子", "男子", "女孩", "男孩",
                "孩子", "人物", "姑娘", "小伙子"}

# Simplified -> traditional for the characters of the keys above that differ (one form each: 发 is 髮 "hair"
# here, never 發 "emit"; 胡 is 鬍 "beard"; 须 is 鬚 "beard").
TRADITIONAL = str.maketrans({
    # colours
    "红": "紅", "绿": "綠", "蓝": "藍", "黄": "黃", "银": "銀", "乌": "烏", "铜": "銅", "铂": "鉑", "亚": "亞",
    "纯": "純", "洁": "潔", "宝": "寶", "军": "軍", "罗": "羅", "兰": "蘭", "枣": "棗", "樱": "櫻", "榄": "欖",
    "盐": "鹽", "浅": "淺", "颜": "顏", "绯": "緋",
    # hair, eyes, lips, skin, beard, light
    "发": "髮", "头": "頭", "丝": "絲", "刘": "劉", "肤": "膚", "双": "雙", "胡": "鬍", "须": "鬚", "络": "絡",
    "长": "長", "灯": "燈", "线": "線", "墙": "牆", "脸": "臉", "秃": "禿", "顶": "頂", "谢": "謝", "马": "馬",
    "辫": "辮", "齐": "齊", "卷": "捲", "干": "乾", "净": "淨",
    # people and age
    "儿": "兒", "婴": "嬰", "学": "學", "龄": "齡", "轻": "輕", "帅": "帥", "伙": "夥", "妈": "媽", "迈": "邁",
    "纪": "紀", "皱": "皺", "纹": "紋", "满": "滿", "妇": "婦", "爷": "爺", "绅": "紳", "苍": "蒼",
    # makeup, skin tone
    "无": "無", "没": "沒", "晒": "曬", "妆": "妝", "浓": "濃", "麦": "麥",
    # scenes and time of day
    "摄": "攝", "区": "區", "闹": "鬧", "边": "邊", "滩": "灘", "滨": "濱", "丛": "叢", "间": "間", "树": "樹",
    "园": "園", "办": "辦", "写": "寫", "楼": "樓", "职": "職", "场": "場", "会": "會", "议": "議", "云": "雲",
    "图": "圖", "书": "書", "馆": "館", "里": "裡", "阳": "陽", "晖": "暉", "余": "餘", "时": "時", "昼": "晝",
    # lighting and film
    "戏": "戲", "剧": "劇", "电": "電", "对": "對", "伦": "倫", "调": "調", "赛": "賽", "专": "專", "业": "業",
    "温": "溫", "轮": "輪", "缘": "緣", "胶": "膠", "颗": "顆", "点": "點", "复": "復", "怀": "懷", "旧": "舊",
    # guards and filler
    "盗": "盜", "报": "報", "鲜": "鮮", "关": "關", "镜": "鏡", "现": "現", "气": "氣", "属": "屬", "与": "與",
    "还": "還", "带": "帶", "拥": "擁", "张": "張", "这": "這", "个": "個", "们": "們", "质": "質", "风": "風",
    "样": "樣", "实": "實", "着": "著", "说": "說", "讲": "講", "话": "話",
})
