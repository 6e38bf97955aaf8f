"""Valence: the emotion probabilities sorted into positive, neutral and negative.

The one definition the dashboard uses (face summaries, the valence line on every timeline):

- positive = happy
- negative = angry + disgust + fear + sad (+ contempt, for a model with the eighth class)
- neutral  = neutral + surprise. A surprised face can be pleasant (a gift) or unpleasant (a
  shock) and the face alone does not say which, so surprise counts as neither side (models of
  affect put it near zero valence, with high arousal): net valence (positive minus negative) is
  not moved by surprise at all. Splitting it half to each side read a clearly surprised face with
  a little fear as "mostly negative".

A face's word (``valence_label``) is the largest share, unless that contradicts the face's own top
emotion (a happy or surprised face whose many small negative scores add up, say): then it is
"mixed". So a face whose top emotion is happy or surprise never reads as mostly negative, nor a
sad one as mostly positive.

Net valence runs from -1 (all negative) to +1 (all positive); 0 is balanced or neutral.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fer_core.core.labels import CLASSES

VALENCES: tuple[str, ...] = ("positive", "neutral", "negative")
MIXED = "mixed"
# How valence is computed, in one line for the pages that show it.
RULE = ("Valence sorts the emotion scores: happy is positive; angry, disgust, fear, sad (and contempt) are "
        "negative; neutral "
        "and surprise (pleasant or not, the face alone does not say) are neutral. \"Mixed\" means the largest "
        "side disagrees with the face's strongest emotion.")

# Share of each class that goes to each valence (rows: CLASSES order; columns: VALENCES order).
WEIGHTS: dict[str, tuple[float, float, float]] = {
    "angry": (0.0, 0.0, 1.0),
    "disgust": (0.0, 0.0, 1.0),
    "fear": (0.0, 0.0, 1.0),
    "happy": (1.0, 0.0, 0.0),
    "neutral": (0.0, 1.0, 0.0),
    "sad": (0.0, 0.0, 1.0),
    "surprise": (0.0, 1.0, 0.0),
    "contempt": (0.0, 0.0, 1.0),
}



def _matrix(classes: Sequence[str]) -> np.ndarray:
    try:
        return np.array([WEIGHTS[c] for c in classes], np.float64)
    except KeyError as exc:
        raise ValueError(f"No valence is defined for class {exc.args[0]!r}.") from None


def valence_shares(probs, classes: Sequence[str] = CLASSES) -> np.ndarray:
    """(..., 3) positive / neutral / negative shares from (..., n_classes) probabilities."""
    p = np.asarray(probs, np.float64)
    if p.shape[-1] != len(classes):
        raise ValueError(f"Expected {len(classes)} probabilities per row, got {p.shape[-1]}.")
    return p @ _matrix(classes)


def net_valence(probs, classes: Sequence[str] = CLASSES) -> np.ndarray:
    """Positive minus negative share, -1..1, for each row of probabilities."""
    v = valence_shares(probs, classes)
    return v[..., 0] - v[..., 2]


def valence_label(probs, classes: Sequence[str] = CLASSES) -> str:
    """The largest of the three shares for one face, or MIXED when it contradicts the valence of
    the face's top emotion (see the module docstring)."""
    p = np.asarray(probs, np.float64)
    largest = VALENCES[int(np.argmax(valence_shares(p, classes)))]
    own = VALENCES[int(np.argmax(_matrix(classes)[int(np.argmax(p))]))]
    return largest if largest == own else MIXED


def describe(probs, classes: Sequence[str] = CLASSES) -> str:
    """One line for a face: 'mostly positive (positive 80%, neutral 15%, negative 5%)', or 'mixed (...)'."""
    shares = valence_shares(probs, classes)
    parts = ", ".join(f"{name} {share:.0%}" for name, share in zip(VALENCES, shares))
    label = valence_label(probs, classes)
    return f"{label if label == MIXED else 'mostly ' + label} ({parts})"
