"""labels: the emotion colours stay apart for everyone, under the common colour-vision deficiencies too."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from fer_core.app.charts import VALENCE_COLOR
from fer_core.core.labels import CLASSES_8, COLORS_HEX, color_rgb, dark_ink, hex_rgb

# Machado, Oliveira & Fernandes (2009), severity 1.0: linear-RGB simulation of each dichromacy.
SIMULATIONS = {
    "normal vision": np.eye(3),
    "protanopia": np.array([[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216],
                            [-0.003882, -0.048116, 1.051998]]),
    "deuteranopia": np.array([[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413],
                              [-0.011820, 0.042940, 0.968881]]),
}
MIN_DELTA_E = 15.0  # CIEDE2000: well past "clearly different" for thin lines on a chart


def _lab(hex_colour: str, simulation: np.ndarray) -> np.ndarray:
    c = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)]) / 255
    rgb = np.clip(simulation @ np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4), 0, 1)
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]) @ rgb
    t = xyz / np.array([0.95047, 1.0, 1.08883])
    f = np.where(t > (6 / 29) ** 3, np.cbrt(t), t / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def delta_e2000(lab1: np.ndarray, lab2: np.ndarray) -> float:
    """CIEDE2000 colour difference (Sharma, Wu & Dalal 2005)."""
    (l1, a1, b1), (l2, a2, b2) = lab1, lab2
    c_mean = (np.hypot(a1, b1) + np.hypot(a2, b2)) / 2
    g = 0.5 * (1 - np.sqrt(c_mean ** 7 / (c_mean ** 7 + 25 ** 7)))
    a1, a2 = (1 + g) * a1, (1 + g) * a2
    c1, c2 = np.hypot(a1, b1), np.hypot(a2, b2)
    h1, h2 = np.degrees(np.arctan2(b1, a1)) % 360, np.degrees(np.arctan2(b2, a2)) % 360
    dh = 0.0 if c1 * c2 == 0 else (h2 - h1 + 180) % 360 - 180
    d_l, d_c, d_h = l2 - l1, c2 - c1, 2 * np.sqrt(c1 * c2) * np.sin(np.radians(dh / 2))
    l_mean, c_mean = (l1 + l2) / 2, (c1 + c2) / 2
    h_mean = h1 + h2 if c1 * c2 == 0 else ((h1 + h2) / 2 if abs(h1 - h2) <= 180 else (h1 + h2 + 360) / 2 % 360)
    t = (1 - 0.17 * np.cos(np.radians(h_mean - 30)) + 0.24 * np.cos(np.radians(2 * h_mean))
         + 0.32 * np.cos(np.radians(3 * h_mean + 6)) - 0.20 * np.cos(np.radians(4 * h_mean - 63)))
    s_l = 1 + 0.015 * (l_mean - 50) ** 2 / np.sqrt(20 + (l_mean - 50) ** 2)
    s_c, s_h = 1 + 0.045 * c_mean, 1 + 0.015 * c_mean * t
    r_t = (-np.sin(np.radians(60 * np.exp(-((h_mean - 275) / 25) ** 2)))
           * 2 * np.sqrt(c_mean ** 7 / (c_mean ** 7 + 25 ** 7)))
    return float(np.sqrt((d_l / s_l) ** 2 + (d_c / s_c) ** 2 + (d_h / s_h) ** 2 + r_t * (d_c / s_c) * (d_h / s_h)))


def test_delta_e2000_matches_the_published_test_data():
    # Sharma et al.'s pairs 1 and 17
    assert delta_e2000(np.array([50, 2.6772, -79.7751]), np.array([50, 0, -82.7485])) == pytest.approx(2.0425, abs=1e-4)
    assert delta_e2000(np.array([50, 2.5, 0]), np.array([73, 25, -18])) == pytest.approx(27.1492, abs=1e-4)


@pytest.mark.parametrize("vision", list(SIMULATIONS))
def test_all_eight_colours_and_the_valence_line_stay_apart(vision):
    """Timelines draw every emotion (contempt too) and the valence line together: every pair must differ."""
    colours = {**COLORS_HEX, "valence": VALENCE_COLOR}
    labs = {name: _lab(hex_colour, SIMULATIONS[vision]) for name, hex_colour in colours.items()}
    close = [(a, b, round(delta_e2000(labs[a], labs[b]), 1)) for a, b in itertools.combinations(colours, 2)
             if delta_e2000(labs[a], labs[b]) < MIN_DELTA_E]
    assert not close, f"{vision}: too alike {close}"


def test_angry_and_surprise_are_different_hues():
    """The issue's pair: vermillion angry and orange surprise looked alike on a timeline."""
    hue = {c: np.degrees(np.arctan2(*_lab(COLORS_HEX[c], np.eye(3))[[2, 1]])) % 360 for c in ("angry", "surprise")}
    assert abs((hue["angry"] - hue["surprise"] + 180) % 360 - 180) > 90
    assert set(COLORS_HEX) == set(CLASSES_8) and color_rgb("angry") == (0xD5, 0x5E, 0x00)


def test_labels_are_inked_black_on_light_colours_and_white_on_dark_ones():
    assert hex_rgb("#F0E442") == color_rgb("happy") == (240, 228, 66)
    assert dark_ink(color_rgb("happy")) and dark_ink(color_rgb("neutral"))
    assert not dark_ink(color_rgb("sad")) and not dark_ink(color_rgb("fear"))


def test_contempt_is_a_class_only_for_eight_classes():
    from fer_core.core.labels import canonical_class

    assert canonical_class("contempt") is None  # a seven-class dataset skips CK+'s contempt folder
    assert canonical_class("contempt", CLASSES_8) == "contempt"
    assert canonical_class("7_contemptuous", CLASSES_8) == "contempt"
    assert canonical_class("anger", CLASSES_8) == "angry"


def test_classes_for_outputs():
    from fer_core.core.labels import CLASSES, classes_for_outputs

    assert classes_for_outputs(7) == CLASSES and classes_for_outputs(8) == CLASSES_8
    with pytest.raises(ValueError, match="5 outputs"):
        classes_for_outputs(5)
