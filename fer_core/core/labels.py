"""The seven emotion classes (and contempt, the eighth some models have), their order, aliases and
display colours."""

from __future__ import annotations

CLASSES: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")
# AffectNet's eighth class, also in FER+'s votes and CK+: a model folder may list the seven or these eight.
CONTEMPT = "contempt"
CLASSES_8: tuple[str, ...] = (*CLASSES, CONTEMPT)
CLASS_LISTS: tuple[tuple[str, ...], ...] = (CLASSES, CLASSES_8)

# fer2013.csv encodes emotion 0..6 in a different order from ours.
FER2013_CSV_ORDER: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")

# FER+ label.csv vote columns, in file order.
FERPLUS_VOTE_ORDER: tuple[str, ...] = (
    "neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt", "unknown", "NF",
)

_ALIASES: dict[str, str] = {
    "anger": "angry", "angry": "angry", "an": "angry", "mad": "angry",
    "disgust": "disgust", "disgusted": "disgust", "disgusting": "disgust", "di": "disgust",
    "fear": "fear", "fearful": "fear", "afraid": "fear", "scared": "fear", "fe": "fear",
    "happy": "happy", "happiness": "happy", "joy": "happy", "ha": "happy", "smile": "happy",
    "neutral": "neutral", "calm": "neutral", "ne": "neutral",
    "sad": "sad", "sadness": "sad", "sa": "sad", "unhappy": "sad",
    "surprise": "surprise", "surprised": "surprise", "surprising": "surprise", "su": "surprise",
    "contempt": CONTEMPT, "contemptuous": CONTEMPT,
}

# Seven colours told apart under normal vision and the common colour-vision deficiencies (simulated
# protanopia and deuteranopia: every pair at least 18 CIEDE2000 apart, tests/core/test_labels.py), and
# apart from black, the valence line's colour. Okabe-Ito's orange surprise looked like its vermillion
# angry on timelines, and its reddish purple fear like grey to deuteranopes; fear and surprise now come
# from Paul Tol's colour-blind-safe schemes. Always shown together with the text label, never as the
# only cue.
COLORS_HEX: dict[str, str] = {
    "angry": "#D55E00",     # vermillion (Okabe-Ito)
    "disgust": "#009E73",   # bluish green (Okabe-Ito)
    "fear": "#882255",      # wine (Tol muted)
    "happy": "#F0E442",     # yellow (Okabe-Ito)
    "neutral": "#BBBBBB",   # grey (Tol)
    "sad": "#0072B2",       # blue (Okabe-Ito)
    "surprise": "#33BBEE",  # cyan (Tol vibrant)
    "contempt": "#900000",  # maroon: the colour farthest from the other seven and black under all three visions
}


def canonical_class(name: str, classes: tuple[str, ...] = CLASSES) -> str | None:
    """Map a folder or label name (any case, common synonyms, numeric prefixes) to one of ``classes``
    (contempt only when they include it)."""
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    found = _ALIASES.get(key)
    # CK+/JAFFE-style exports: "1_anger", "03-happy", "emotion_sad".
    for part in key.split("_") if found is None else ():
        if part in _ALIASES and len(part) > 2:
            found = _ALIASES[part]
            break
    return found if found in classes else None


def classes_for_outputs(n: int) -> tuple[str, ...]:
    """The class list of a model with ``n`` outputs (the seven, or eight with contempt)."""
    for classes in CLASS_LISTS:
        if len(classes) == n:
            return classes
    raise ValueError(f"a model with {n} outputs matches no class list (7 or 8 classes)")


def hex_rgb(colour: str) -> tuple[int, int, int]:
    """'#RRGGBB' as an (R, G, B) tuple."""
    h = colour.lstrip("#")
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)


def classes_in(columns) -> tuple[str, ...]:
    """The class list a record, a probability mapping or a column list carries: the eight when it
    has a contempt entry, else the seven."""
    return CLASSES_8 if CONTEMPT in columns else CLASSES


def color_rgb(label: str) -> tuple[int, int, int]:
    """Colour of an emotion as an (R, G, B) tuple; unknown labels are grey."""
    return hex_rgb(COLORS_HEX.get(label, "#999999"))


def dark_ink(background: tuple[int, int, int]) -> bool:
    """Whether a label on this background is written in black (light colours: yellow, orange)
    rather than white, on the video frames and on the pages' badges alike."""
    return 0.299 * background[0] + 0.587 * background[1] + 0.114 * background[2] > 140
