"""charts: every dashboard figure, drawn from a Timeline, records, evaluate reports or history rows."""

from __future__ import annotations

import numpy as np
import pytest
from factories import fake_history, fake_report, make_records, two_emotion_records

from fer_core.app import charts
from fer_core.app.charts import (VALENCE_TRACE_NAME, distribution_figure, probability_bar_figure, shares_figure,
                             timeline_figure)
from fer_core.core.labels import CLASSES, COLORS_HEX
from fer_core.core.records import emotion_shares
from fer_core.core.timeline import Timeline


def test_figures_use_class_colours_and_names():
    tl = Timeline.from_records(two_emotion_records())
    fig = timeline_figure(tl)
    assert [t.name for t in fig.data] == [*CLASSES, VALENCE_TRACE_NAME]
    assert [t.line.color for t in fig.data][:-1] == [COLORS_HEX[c] for c in CLASSES]
    # the valence line: happy (+1) for 1 s, then sad (-1), on a small panel of its own below the probabilities
    val = fig.data[-1]
    assert val.yaxis == "y2" and fig.layout.yaxis2.range == (-1.05, 1.05) and val.line.color == charts.VALENCE_COLOR
    assert all(t.yaxis == "y" for t in fig.data[:-1])
    assert fig.layout.yaxis2.domain[1] < fig.layout.yaxis.domain[0]  # stacked, not overlaid
    span = lambda ax: ax.domain[1] - ax.domain[0]  # noqa: E731
    assert span(fig.layout.yaxis2) < span(fig.layout.yaxis) / 2  # small
    assert fig.layout.xaxis.matches == "x2" or fig.layout.xaxis2.matches == "x"  # one time axis
    assert fig.layout.legend.y < 0 and fig.layout.legend.orientation == "h"
    assert val.y[0] == pytest.approx(0.8 - 4 * 0.2 / 6) and val.y[-1] == pytest.approx(0.2 / 6 - (0.8 + 3 * 0.2 / 6))
    assert "face 1" in fig.layout.title.text  # the face seen longest
    assert len(timeline_figure(tl, face_id=2).data[0].x) == 5
    dist = distribution_figure(tl)
    bar = dist.data[0]
    assert list(bar.x) == list(CLASSES) and bar.text[CLASSES.index("happy")] == "happy<br>50%"
    assert list(bar.marker.color) == [COLORS_HEX[c] for c in CLASSES]
    probs = np.linspace(1, 7, 7) / 28
    pb = probability_bar_figure(probs).data[0]
    assert list(pb.y) == list(CLASSES) and pb.text[-1] == "surprise 25%"
    with pytest.raises(ValueError):
        probability_bar_figure([0.5, 0.5])
    empty = timeline_figure(Timeline.from_records([]))
    assert len(empty.data) == 0 and "no faces" in empty.layout.title.text


def test_shares_figure_puts_sessions_side_by_side():
    a, b = make_records(["happy"] * 3 + ["sad"]), make_records(["angry"] * 2, seed=1)
    fig = shares_figure({"#1 live": a, "#2 video": b})
    bars = [t for t in fig.data if t.showlegend is False]
    assert [t.name for t in bars] == ["#1 live", "#2 video"] and fig.layout.barmode == "group"
    assert list(bars[0].x) == list(CLASSES) and list(bars[0].y) == list(emotion_shares(a).values())
    assert bars[0].text[CLASSES.index("happy")] == "75%"
    assert list(bars[1].marker.color) == [COLORS_HEX[c] for c in CLASSES]
    assert bars[1].marker.pattern.shape == "/"  # the second session is hatched, not only coloured
    # the legend's swatches mean something: the session's pattern on white, not one emotion's colour
    legend = [t for t in fig.data if t.showlegend is not False]
    assert [t.name for t in legend] == ["#1 live", "#2 video"]
    assert [t.marker.color for t in legend] == ["#FFFFFF"] * 2
    assert [t.marker.pattern.shape for t in legend] == [b.marker.pattern.shape for b in bars]
    assert [t.offsetgroup for t in legend] == [b.offsetgroup for b in bars]  # no empty slot in each group


def test_compare_timelines_share_one_time_axis_at_full_width():
    """History's compare view: both sessions stacked, each with its valence panel, one legend."""
    a = Timeline.from_records(two_emotion_records())
    b = Timeline.from_records(make_records(["angry"] * 6, seed=3))
    fig = charts.compare_timelines_figure([("#1", a, None), ("#2", b, None)])
    axes = sorted({t.xaxis for t in fig.data})
    assert len(axes) == 4 and len({t.yaxis for t in fig.data}) == 4  # probabilities and valence, twice
    matched = {getattr(fig.layout, f"xaxis{ax[1:]}").matches for ax in axes}
    assert matched <= {"x4", None}  # every panel on the bottom panel's time axis
    names = [t.name for t in fig.data if t.showlegend is not False]
    assert names == [*CLASSES, VALENCE_TRACE_NAME]  # each entry once, for both sessions
    assert {t.legendgroup for t in fig.data if t.name == "angry"} == {"angry"}
    titles = [ann.text for ann in fig.layout.annotations]
    assert titles[0].startswith("#1 (face") and titles[1].startswith("#2 (face")


def test_confusion_figure_normalises_rows():
    rep = fake_report(2)
    z = np.array(charts.confusion_figure(rep, normalize=True).data[0].z)
    np.testing.assert_allclose(z.sum(axis=1), 1.0)
    recall = [rep["per_class"][c]["recall"] for c in CLASSES]
    np.testing.assert_allclose(np.diag(z), recall)  # the diagonal of a row-normalised matrix is recall
    counts = np.array(charts.confusion_figure(rep, normalize=False).data[0].z)
    np.testing.assert_array_equal(counts, rep["confusion_matrix"])
    with pytest.raises(ValueError, match="7x7"):
        charts.confusion_figure({**rep, "confusion_matrix": [[1, 2], [3, 4]]})


def test_confusion_figure_with_an_empty_row():
    rep = fake_report(2)
    cm = np.array(rep["confusion_matrix"])
    cm[1] = 0
    z = np.array(charts.confusion_figure({**rep, "confusion_matrix": cm.tolist()}).data[0].z)
    assert np.all(z[1] == 0) and np.isfinite(z).all()


def test_training_figures_plot_what_the_history_has():
    hist = fake_history(5)[::-1]  # out of order on disk
    fig = charts.training_figure(hist)
    names = {t.name: t for t in fig.data}
    assert set(names) == {"training loss", "training accuracy", "validation accuracy", "validation macro-F1",
                          "learning rate"}
    assert list(names["validation accuracy"].x) == [1, 2, 3, 4, 5]
    assert list(names["training loss"].y) == [r["loss"] for r in sorted(hist, key=lambda r: r["epoch"])]
    rec = charts.recall_figure(hist)
    assert [t.name for t in rec.data] == list(CLASSES)
    assert rec.data[1].line.color == COLORS_HEX["disgust"]
    sparse = [{"epoch": 1, "loss": 2.0}, {"epoch": 2, "loss": 1.5, "val_accuracy": 0.4}]
    assert {t.name for t in charts.training_figure(sparse).data} == {"training loss", "validation accuracy"}
    with pytest.raises(ValueError, match="per-epoch"):
        charts.training_figure({"epoch": 1})


def test_class_counts_figure():
    counts = {"sad": 5, "angry": 3, "happy": 9}
    bar = charts.class_counts_figure(counts).data[0]
    assert list(bar.x) == ["angry", "happy", "sad"] and list(bar.y) == [3, 9, 5]
    assert list(bar.marker.color) == [COLORS_HEX[c] for c in ("angry", "happy", "sad")]
    with pytest.raises(ValueError):
        charts.class_counts_figure([1, 2])
