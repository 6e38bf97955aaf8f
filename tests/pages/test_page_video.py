"""Video page through the router: a clip with a face is analysed, shown, downloadable and saved
to History; bad, audio-only and too-long uploads each get a clear message."""

from __future__ import annotations

import csv
import io
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import HOSTILE_NAME, assert_clean, assert_plain_text_on_page, texts

from fer_core.bench.scenes import DrawnFace, backdrop, draw_scene, write_test_clip


pytestmark = pytest.mark.usefixtures("tiny_model")


@pytest.fixture(scope="module")
def face_clip(tmp_path_factory) -> bytes:
    """2 s at 10 fps, 320x240: one drawn face drifting right."""
    frames = [draw_scene(320, 240, [DrawnFace(110 + 4 * i, 125, 42, "happy")]) for i in range(20)]
    p = write_test_clip(tmp_path_factory.mktemp("clips") / "face.mp4", frames, fps=10)
    return p.read_bytes()


def audio_only(path: Path) -> bytes:
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("aac", rate=16000)
        t = np.arange(16000, dtype=np.float32) / 16000
        frame = av.AudioFrame.from_ndarray((0.1 * np.sin(2 * np.pi * 440 * t))[None, :], format="flt", layout="mono")
        frame.sample_rate = 16000
        frame.time_base = Fraction(1, 16000)
        frame.pts = 0
        for pkt in stream.encode(frame):
            out.mux(pkt)
        for pkt in stream.encode(None):
            out.mux(pkt)
    return path.read_bytes()


def upload(at, name: str, data: bytes):
    return at.file_uploader(key="video_upload").set_value((name, data, "video/mp4")).run()


def test_renders_and_asks_for_a_video(open_page, store):
    at = open_page("pages/video.py")
    assert_clean(at)
    assert at.title[0].value == "Video"
    assert set(at.file_uploader(key="video_upload").allowed_type) >= {".mp4", ".mov", ".webm", ".avi", ".mkv"}
    assert at.toggle(key="video_save").value is True
    assert "(no video, no images)" in at.toggle(key="video_save").label
    assert max(len(o) for o in at.selectbox(key="video_rate").options) <= 22  # not cut off in the sidebar


def test_clip_is_analysed_shown_and_saved_as_a_session(open_page, store, face_clip, downloads):
    at = upload(open_page("pages/video.py"), "party clip.mp4", face_clip)
    assert_clean(at)
    assert not at.error
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Face tracks"] == "1" and metrics["Most faces in one frame"] == "1"
    assert metrics["Frames analysed"] == "20 of 20"
    assert metrics["Duration"] == "2.0 s"
    assert "Overall emotion of the clip" in texts(at, "markdown")
    assert len(at.get("plotly_chart")) == 2  # distribution + timeline
    # The annotated video decodes and has every frame.
    with av.open(io.BytesIO(downloads["party clip_annotated.mp4"])) as c:
        assert sum(1 for _ in c.decode(video=0)) == 20
    rows = list(csv.DictReader(io.StringIO(downloads["party clip_emotions.csv"].decode())))
    assert len(rows) == 20 and {r["face_id"] for r in rows} == {"1"}
    # Saved exactly once, as a video session with the same records.
    sessions = store.list_sessions()
    assert len(sessions) == 1 and sessions[0]["source"] == "video" and sessions[0]["n_records"] == 20
    assert f"session #{sessions[0]['id']}" in texts(at, "success")
    at.slider(key="video_threshold").set_value(0.5).run()  # a rerun must not analyse or save again
    assert_clean(at)
    assert len(store.list_sessions()) == 1


def test_each_face_has_a_row_in_a_table_and_in_the_csv_summary(open_page, store, face_clip, downloads):
    """Track, first and last seen, frames, most frequent emotion with its share, mean valence."""
    at = upload(open_page("pages/video.py"), "party clip.mp4", face_clip)
    assert_clean(at)
    assert len(at.dataframe) == 1
    table = at.dataframe[0].value
    assert list(table.columns) == ["face", "first seen (s)", "last seen (s)", "frames", "most frequent emotion",
                                   "its share", "mean valence"]
    row = table.iloc[0]
    assert len(table) == 1 and row["face"] == 1 and row["frames"] == 20
    assert row["first seen (s)"] == 0.0 and row["last seen (s)"] == pytest.approx(1.9)
    assert 0 < row["its share"] <= 1 and -1 <= row["mean valence"] <= 1
    result = at.session_state["_video"]["result"]
    labels = [r["label"] for r in result.records]
    assert row["most frequent emotion"] == result.summary["dominant"]
    assert row["its share"] == pytest.approx(labels.count(row["most frequent emotion"]) / 20, abs=1e-4)
    rows = list(csv.DictReader(io.StringIO(downloads["party clip_faces.csv"].decode())))
    assert rows == [{"face": "1", "first_seen_s": "0.0", "last_seen_s": str(row["last seen (s)"]), "frames": "20",
                     "most_frequent": row["most frequent emotion"], "share": str(row["its share"]),
                     "mean_valence": str(row["mean valence"])}]


@pytest.fixture
def progress_texts(monkeypatch) -> list[str]:
    """Every text the page's progress bar showed while a clip was analysed."""
    from streamlit.delta_generator import DeltaGenerator

    seen: list[str] = []
    original = DeltaGenerator.progress

    def spy(self, value, text=None, *args, **kwargs):
        if text:
            seen.append(text)
        return original(self, value, text, *args, **kwargs)

    monkeypatch.setattr(DeltaGenerator, "progress", spy)
    return seen


def test_figures_agree_progress_result_and_overall_emotion(open_page, store, tmp_path, progress_texts):
    """A 30 fps clip analysed at 10 frames a second: progress and result count analysed frames the same
    way; the overall emotion is the most frequent one, the distribution's tallest bar."""
    import re

    frames = [draw_scene(320, 240, [DrawnFace(110 + 2 * i, 125, 42, "happy")]) for i in range(30)]
    clip = write_test_clip(tmp_path / "thirty.mp4", frames, fps=30).read_bytes()
    at = upload(open_page("pages/video.py"), "thirty.mp4", clip)
    assert_clean(at)
    metrics = {m.label: m.value for m in at.metric}
    analysed = [int(m.group(1)) for text in progress_texts if (m := re.match(r"Analysed (\d+) frames", text))]
    assert metrics["Frames analysed"] == f"{analysed[-1]} of 30" and analysed[-1] == 10
    rows = list(csv.DictReader(io.StringIO(at.session_state["_video"]["result"].to_csv())))
    labels = [r["label"] for r in rows]
    dominant = max(set(labels), key=labels.count)
    overall = next(m.value for m in at.markdown if m.value.startswith("**Overall emotion of the clip:**"))
    assert f">{dominant}</span>" in overall and f"in {labels.count(dominant) / len(labels):.0%} of" in overall
    assert "uncertain" not in overall and "Most frequent emotion" not in metrics
    assert metrics["Face tracks"] == str(len({r["face_id"] for r in rows}))


def test_switch_off_saves_nothing(open_page, store, face_clip):
    at = open_page("pages/video.py")
    at.toggle(key="video_save").set_value(False).run()
    at = upload(at, "clip.mp4", face_clip)
    assert_clean(at)
    assert {m.label: m.value for m in at.metric}["Face tracks"] == "1"
    assert store.list_sessions() == []


def test_bad_upload_then_good_upload(open_page, store, face_clip):
    at = upload(open_page("pages/video.py"), "fake.mp4", b"this is not a video" * 50)
    assert_clean(at)
    assert len(at.error) == 1 and "fake.mp4 could not be read as a video" in at.error[0].value
    at = upload(at, "clip.mp4", face_clip)  # the page keeps working
    assert_clean(at)
    assert not at.error and {m.label: m.value for m in at.metric}["Face tracks"] == "1"


def test_audio_only_file_has_no_video_stream(open_page, store, tmp_path):
    at = upload(open_page("pages/video.py"), "voice.mp4", audio_only(tmp_path / "voice.mp4"))
    assert_clean(at)
    assert "has no video stream" in at.error[0].value
    assert store.list_sessions() == []


def test_too_long_video_is_refused_with_the_limit(open_page, store, tmp_path):
    frames = [backdrop(64, 48)] * 610  # 610 s at 1 fps: over the 10-minute limit
    clip = write_test_clip(tmp_path / "long.mp4", frames, fps=1).read_bytes()
    at = upload(open_page("pages/video.py"), "long.mp4", clip)
    assert_clean(at)
    assert "the limit is 10.0 min" in at.error[0].value


def test_clip_without_faces_says_so(open_page, store, tmp_path):
    clip = write_test_clip(tmp_path / "empty.mp4", [backdrop(160, 120)] * 10, fps=10).read_bytes()
    at = upload(open_page("pages/video.py"), "empty.mp4", clip)
    assert_clean(at)
    assert "No face was found in empty.mp4" in texts(at, "warning")
    assert "at least about 60 pixels wide in this 160x120 image" in texts(at, "warning")  # the video settings'
    assert store.list_sessions() == []


def test_hostile_file_names_are_shown_as_plain_text(open_page, store, tmp_path):
    """The issue's example: a video named like Markdown must not render as a link or image, on this page
    (messages, warnings) or in History."""
    name = HOSTILE_NAME + ".mp4"
    at = upload(open_page("pages/video.py"), name, b"this is not a video" * 50)
    assert_clean(at)
    assert_plain_text_on_page(at, "could not be read as a video")  # naming the file as saved (made safe)
    clip = write_test_clip(tmp_path / "empty.mp4", [backdrop(160, 120)] * 5, fps=10).read_bytes()
    at = upload(at, name, clip)
    assert_clean(at)
    assert_plain_text_on_page(at, f"No face was found in {name} (")


@pytest.fixture(scope="module")
def noisy_clip(tmp_path_factory) -> bytes:
    """3 s of noise at 30 fps (about 0.8 MB): far larger than the demuxer's read buffer."""
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (120, 160, 3), dtype=np.uint8) for _ in range(90)]
    return write_test_clip(tmp_path_factory.mktemp("clips") / "noise.mp4", frames, fps=30).read_bytes()


@pytest.mark.parametrize("name", ["annotated-output.mp4", "annotated.mp4"])
def test_an_upload_named_like_the_output_is_analysed_whole(open_page, store, noisy_clip, name):
    """A clip uploaded as annotated-output.mp4 was overwritten by the page's output while it was read
    (a 10-minute clip gave 71 s, saved as complete)."""
    assert len(noisy_clip) > 500_000
    at = upload(open_page("pages/video.py"), name, noisy_clip)
    assert_clean(at)
    assert not at.error
    result = at.session_state["_video"]["result"]
    assert (result.n_frames, result.n_analyzed) == (90, 30) and result.duration_s == pytest.approx(3.0, abs=0.05)


def test_limits_come_from_the_environment(open_page, store, face_clip, monkeypatch):
    monkeypatch.setenv("FER_MAX_VIDEO_SIDE", "200")
    monkeypatch.setenv("FER_MAX_VIDEO_SECONDS", "90")
    at = open_page("pages/video.py")
    assert "Up to 1.5 minutes and 200 pixels on the long side" in texts(at, "info")
    at = upload(at, "clip.mp4", face_clip)
    assert_clean(at)
    assert "320x240; the limit is 200 px" in at.error[0].value
