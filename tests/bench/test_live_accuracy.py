"""Live accuracy bench (fer_core.bench.live_accuracy): the stream it builds and how it scores."""

from __future__ import annotations

import pytest

from fer_core.analysis.live import LiveProcessor, LiveSettings
from fer_core.bench.live_accuracy import _slot, live_accuracy, stream_frames
from fer_core.bench.scenes import face_pool
from fer_core.core.labels import CLASSES
from fer_core.engine.classifier import Classifier


def test_stream_holds_each_group_of_four_faces():
    frames = list(stream_frames(face_pool(9), hold=3))  # the ninth face has no group of four
    assert len(frames) == 6 and [s for _, s in frames[::3]] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert frames[0][0] is frames[2][0] and frames[0][0].shape == (480, 640, 3)


@pytest.mark.timeout(120)
def test_scores_each_slot_against_its_own_face():
    classifier = Classifier.from_dir()
    faces = face_pool(8)
    wrong = live_accuracy(classifier, faces, [-1] * 8, LiveSettings(), hold=3)
    assert wrong["frames"] == 6 and wrong["found_share"] >= 0.9 and wrong["accuracy_all_frames"] == 0.0
    # each face's settled label, read here: scored against these, every settled frame is right
    lp = LiveProcessor(classifier, LiveSettings(record_interval_s=0.0))
    labels = [-1] * 8
    for k, (frame, slots) in enumerate(stream_frames(faces, hold=3)):
        lp.process(frame)
        for r in lp.drain_records():
            if k % 3 == 2:
                labels[slots[_slot(r)]] = CLASSES.index(r["label"])
    assert live_accuracy(classifier, faces, labels, LiveSettings(), hold=3)["accuracy_settled"] == 1.0
