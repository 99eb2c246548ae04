"""English prompt words. Words are split on spaces and punctuation; hyphenated words that are not entries
themselves are split at the hyphen ("red-haired" = "red" + "haired").

- ``COLORS``: colour words -> canonical colour; the noun they describe decides the attribute.
- ``NOUNS``: what a colour can describe (hair, eyes, lips, skin, background, beard, light).
- ``WORDS``: self-contained words -> ``(attribute, value)``; ``"age+gender"`` sets both (``"old:masculine"``).
- ``PHRASES``: two- and three-word entries, matched before single words.
- ``STOPWORDS``: understood filler, neither an attribute nor reported as unknown.
- ``MODIFIERS``: colours that combine with a following colour ("light brown" -> ``light-brown``).
"""

from __future__ import annotations

COLORS = {
    "red": "red", "ginger": "ginger", "auburn": "auburn", "copper": "ginger", "blonde": "blonde", "blond": "blonde",
    "golden": "blonde", "platinum": "platinum", "brown": "brown", "chestnut": "brown", "black": "black",
    "jet": "black", "grey": "grey", "gray": "grey", "silver": "grey", "white": "white", "blue": "blue",
    "green": "green", "hazel": "hazel", "amber": "amber", "pink": "pink", "purple": "purple", "violet": "purple",
    "coral": "coral", "nude": "nude", "plum": "plum", "orange": "orange", "yellow": "yellow", "beige": "beige",
    "olive": "olive", "tan": "tan", "tanned": "tan", "dark": "dark", "light": "light", "pale": "pale",
    "fair": "fair", "teal": "teal", "cream": "cream", "crimson": "red", "navy": "navy", "maroon": "plum",
}
NOUNS = {
    "hair": "hair", "haired": "hair", "hairstyle": "hair", "eyes": "eyes", "eye": "eyes", "eyed": "eyes",
    "lips": "lips", "lip": "lips", "lipstick": "lipstick", "skin": "skin", "skinned": "skin",
    "complexion": "skin", "background": "background", "backdrop": "background", "wall": "background",
    "beard": "beard", "bearded": "beard", "light": "light", "lighting": "light", "lights": "light",
}
WORDS: dict[str, tuple[str, str]] = {
    # age
    "child": ("age", "child"), "kid": ("age", "child"), "boy": ("age+gender", "child:masculine"),
    "girl": ("age+gender", "child:feminine"), "teen": ("age", "teen"), "teenager": ("age", "teen"),
    "teenage": ("age", "teen"), "young": ("age", "young"), "youthful": ("age", "young"), "adult": ("age", "adult"),
    "middle-aged": ("age", "middle-aged"), "old": ("age", "old"), "older": ("age", "old"), "aged": ("age", "old"),
    "elderly": ("age", "elderly"), "senior": ("age", "elderly"), "grandmother": ("age+gender", "elderly:feminine"),
    "grandma": ("age+gender", "elderly:feminine"), "grandfather": ("age+gender", "elderly:masculine"),
    "grandpa": ("age+gender", "elderly:masculine"), "wrinkled": ("age", "old"),
    # gender presentation
    "woman": ("gender", "feminine"), "women": ("gender", "feminine"), "female": ("gender", "feminine"),
    "lady": ("gender", "feminine"), "she": ("gender", "feminine"), "her": ("gender", "feminine"),
    "feminine": ("gender", "feminine"), "man": ("gender", "masculine"), "men": ("gender", "masculine"),
    "male": ("gender", "masculine"), "guy": ("gender", "masculine"), "gentleman": ("gender", "masculine"),
    "he": ("gender", "masculine"), "his": ("gender", "masculine"), "masculine": ("gender", "masculine"),
    # hair
    "redhead": ("hair_color", "red"), "brunette": ("hair_color", "brown"), "bald": ("hair_style", "bald"),
    "shaved": ("hair_style", "bald"), "long": ("hair_style", "long"), "short": ("hair_style", "short"),
    # facial hair
    "beard": ("facial_hair", "beard"), "bearded": ("facial_hair", "beard"), "moustache": ("facial_hair", "moustache"),
    "mustache": ("facial_hair", "moustache"), "goatee": ("facial_hair", "goatee"),
    "stubble": ("facial_hair", "stubble"), "unshaven": ("facial_hair", "stubble"),
    "clean-shaven": ("facial_hair", "none"), "beardless": ("facial_hair", "none"),
    # skin details and makeup
    "freckles": ("freckles", "true"), "freckled": ("freckles", "true"), "makeup": ("makeup", "true"),
    "make-up": ("makeup", "true"), "eyeliner": ("makeup", "true"), "eyeshadow": ("makeup", "true"),
    "lipstick": ("lip_color", "red"),
    # scene
    "studio": ("scene", "studio"), "city": ("scene", "city"), "street": ("scene", "city"),
    "urban": ("scene", "city"), "downtown": ("scene", "city"), "beach": ("scene", "beach"),
    "sea": ("scene", "beach"), "ocean": ("scene", "beach"), "seaside": ("scene", "beach"),
    "forest": ("scene", "forest"), "woods": ("scene", "forest"), "trees": ("scene", "forest"),
    "park": ("scene", "forest"), "office": ("scene", "office"), "workplace": ("scene", "office"),
    "sky": ("scene", "sky"), "library": ("scene", "library"), "night": ("time_of_day", "night"),
    "nighttime": ("time_of_day", "night"), "evening": ("time_of_day", "sunset"), "sunset": ("time_of_day", "sunset"),
    "dusk": ("time_of_day", "sunset"), "sunrise": ("time_of_day", "sunset"), "day": ("time_of_day", "day"),
    "daylight": ("time_of_day", "day"), "daytime": ("time_of_day", "day"), "sunny": ("time_of_day", "day"),
    # lighting
    "soft": ("lighting_style", "soft"), "diffuse": ("lighting_style", "soft"), "gentle": ("lighting_style", "soft"),
    "dramatic": ("lighting_style", "dramatic"), "moody": ("lighting_style", "dramatic"),
    "chiaroscuro": ("lighting_style", "dramatic"), "cinematic": ("lighting_style", "dramatic"),
    "natural": ("lighting_style", "natural"), "neon": ("lighting_style", "neon"),
    "warm": ("light_temperature", "warm"), "cold": ("light_temperature", "cold"),
    "cool": ("light_temperature", "cold"), "backlit": ("rim_light", "true"), "rim": ("rim_light", "true"),
    # film look
    "grain": ("film_grain", "true"), "grainy": ("film_grain", "true"), "film": ("film_grain", "true"),
    "analog": ("film_grain", "true"), "35mm": ("film_grain", "true"), "vintage": ("vintage", "true"),
    "retro": ("vintage", "true"),
}
PHRASES: dict[str, tuple[str, str]] = {
    "middle aged": ("age", "middle-aged"), "clean shaven": ("facial_hair", "none"),
    "salt and pepper": ("color", "salt-and-pepper"), "salt-and-pepper": ("color", "salt-and-pepper"),
    "golden hour": ("time_of_day", "sunset"), "green screen": ("background_named", "green"),
    "rim light": ("rim_light", "true"), "rim lighting": ("rim_light", "true"),
    "film grain": ("film_grain", "true"), "high contrast": ("lighting_style", "dramatic"),
    "studio lighting": ("lighting_style", "studio"), "studio light": ("lighting_style", "studio"),
    "heavy makeup": ("makeup", "true"), "no makeup": ("makeup", "false"), "no beard": ("facial_hair", "none"),
    "full beard": ("facial_hair", "beard"), "old man": ("age+gender", "old:masculine"),
    "old woman": ("age+gender", "old:feminine"), "young man": ("age+gender", "young:masculine"),
    "young woman": ("age+gender", "young:feminine"),
}
STOPWORDS = {
    "a", "an", "the", "with", "and", "of", "in", "on", "at", "by", "for", "to", "from", "wearing", "has", "having",
    "is", "who", "which", "that", "their", "they", "them", "very", "slightly", "bit", "little", "person", "people",
    "portrait", "photo", "photograph", "picture", "image", "headshot", "face", "talking", "head", "closeup",
    "close-up", "close", "up", "realistic", "photorealistic", "high", "quality", "detailed", "hd", "4k", "8k",
    "shot", "style", "look", "looking", "looks", "standing", "sitting", "front", "colored", "coloured",
    "toned", "tone", "eyed", "haired", "scene", "setting", "into", "camera", "some", "lots", "few", "against",
    "behind", "outdoors", "outside", "indoors", "inside", "background", "lighting", "light", "color", "colour",
}
MODIFIERS = {"light", "dark", "pale", "bright", "deep"}  # "dark brown hair", "light blue eyes"
# Words for a person: a colour right before one describes the skin ("black woman", "pale man").
PERSON_NOUNS = {"woman", "man", "person", "girl", "boy", "lady", "guy", "gentleman", "female", "male", "child",
                "kid", "teenager"}
