"""Model: a plain-language summary first (how good, where it fails, what not to use it for), then
the figures, the model card section by section and the training log.

Reads the side files in models/ only; it never loads the network, so it imports no TensorFlow.
Every number comes from those files (fer_core.app.model_summary), so a newly shipped model brings its own.
"""

import pandas as pd
import streamlit as st

from fer_core.app import charts
from fer_core.app import model_report as mr
from fer_core.app import model_summary as ms
from fer_core.core import arch_table
from fer_core.core.model_folder import (CARD_NAME, TRAINING_LOG_NAME, ModelFilesError, load_arch_comparison,
                                  load_class_counts, load_history, load_metrics, load_model_config,
                                  load_reference_figures)
from pages._common import DISCLAIMER, MODEL_HINT, guard_page, model_dir, show_error

guard_page()  # first: the router and the token, however the page was entered

st.title("Model")
directory = model_dir()


def _read(loader, what: str):
    """A side file, or None after a warning: one bad file must not hide the others."""
    try:
        return loader(directory)
    except ModelFilesError as exc:
        st.warning(f"The {what} could not be read: {exc}")
        return None


def _text(name: str) -> str | None:
    """A markdown side file (card, training log), or None when it is missing or unreadable."""
    path = directory / name
    if not path.is_file():
        return None
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        st.warning(f"{name} could not be read: {exc}")
        return None


def _rounded(row: dict) -> dict:
    """Floats to 3 decimals: a table of 16-digit numbers is wider than the page."""
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}


def _table(rows: list[dict], **kwargs) -> None:
    st.dataframe(pd.DataFrame(mr.human_columns(rows)), hide_index=True, **kwargs)


try:
    config = load_model_config(directory)
    if config.get("placeholder"):
        st.warning("This is a placeholder model with untrained weights, shipped so the app runs until the trained "
                   "model lands.")
except ModelFilesError as exc:
    show_error(f"No usable model configuration: {exc}", MODEL_HINT)

metrics = _read(load_metrics, "evaluation figures (metrics.json)")
history = _read(load_history, "training history (history.json)")
counts = _read(load_class_counts, "class counts (class_counts.json)")
architectures = _read(load_arch_comparison, "architecture comparison (arch_comparison.json)")
card = _text(CARD_NAME)
log = _text(TRAINING_LOG_NAME)
sets = ms.evaluation_sets(metrics, _read(load_reference_figures, "`fer` package's figures (reference_figures.json)"))


st.header("How good is it, and where does it fail?")
if not sets:
    st.info("No evaluation figures yet (models/metrics.json is missing). They appear here once a trained "
            "model is shipped; `python -m fer_core.training.evaluate --json` produces them.")
else:
    first = sets[0]
    st.markdown("#### " + ms.how_good(first).replace("**", ""))
    for other in sets[1:2]:
        st.markdown(ms.how_good(other))
    st.caption("People often disagree about these faces too, so no model gets close to 100 of 100.")
    st.markdown("**On which kinds of faces is it right, and how often?**")
    kinds = pd.DataFrame(ms.kinds_of_faces(sets, metrics))
    fer_column = "`fer` package, of 100"
    kinds[fer_column] = [("not measured" if v is None or pd.isna(v) else f"{int(v)}") for v in kinds[fer_column]]
    st.dataframe(kinds, hide_index=True, column_config={"faces": st.column_config.TextColumn(width="large")})
    st.caption("Validation faces: training and model choice looked at these sets, so treat the figures as "
               "optimistic. A photo counts as wrong when no face was found in it.")
    notes = ms.class_notes(first.main)
    if notes:
        st.subheader("What it recognises well, and what it misses")
        left, right = st.columns([3, 2])
        left.plotly_chart(charts.recognition_figure(notes), key="summary_bars", config={"displayModeBar": False})
        with right:
            for verdict, heading in (("well", "Recognised well"), ("fairly well", "Recognised fairly well"),
                                     ("poorly", "Often missed")):
                group = [n for n in notes if n.verdict == verdict]
                if group:
                    st.markdown(f"**{heading}:** " + ", ".join(n.label for n in group))
            st.markdown("\n".join(f"- {n.sentence()}" for n in notes))
        st.subheader("Which expressions it mixes up")
        try:
            st.plotly_chart(charts.confusion_figure(first.main, normalize=True, height=420), key="summary_confusion",
                            config={"displayModeBar": False})
            st.caption("Each row holds the faces people said show one expression; each square says how many of "
                       "100 of those faces got each answer from the model. The dark diagonal is right answers; "
                       "a dark square elsewhere is a common mix-up.")
        except ValueError as exc:
            st.warning(f"The picture of mix-ups cannot be drawn: {exc}")
st.subheader("What it is for, and what it must not be used for")
st.markdown(mr.intended_use(card or "") or DISCLAIMER)

st.divider()
st.header("In detail")
tab_eval, tab_arch, tab_train, tab_data = st.tabs(["Evaluation", "Architectures", "Training", "Training data"])

with tab_eval:
    if not sets:
        st.info("No evaluation figures (models/metrics.json is missing).")
    else:
        names = [s.name for s in sets]
        chosen = st.selectbox("Evaluated on", names, key="model_eval_set") if len(names) > 1 else names[0]
        report = sets[names.index(chosen)].main
        h = mr.headline(report)
        c1, c2, c3 = st.columns(3)
        c1.metric("Accuracy", f"{h['accuracy']:.1%}")
        c2.metric("Macro-F1", f"{h['macro_f1']:.3f}")
        c3.metric("Test images", f"{h['n']:,}")
        st.caption(f"The served model on {chosen}. Training chose this model on validation faces, so these are "
                   "validation figures, not test figures (see the model card).")
        default_split = metrics.get("split") if isinstance(metrics.get("split"), str) else None
        every = ms.reports(metrics)
        if len(every) > 1:
            st.markdown("**The Keras model and the served model as each page runs it**")
            _table([{"model": mr.REPORT_LABELS.get(k.split("/")[-1], k),
                     "evaluation_set": ms.evaluation_set(r, default_split), **_rounded(mr.headline(r))}
                    for k, r in every])
        variants = mr.variant_rows(metrics)
        if variants:
            st.markdown(f"**TFLite variants measured on {ms.variants_measured_on(metrics) or 'the validation faces'}** "
                        "(the app serves the smallest that agrees with Keras)")
            _table([_rounded(v) for v in variants])
        rows = mr.per_class_rows(report)
        if rows:
            st.markdown(f"**Per class** ({chosen})")
            _table(rows, column_config={mr.COLUMN_NAMES[k]: st.column_config.NumberColumn(format="%.3f")
                                        for k in ("precision", "recall", "f1", "specificity")})
        st.markdown("**Confusion matrix** (rows: true class, columns: predicted)")
        normalise = st.toggle("Show shares of each true class (recall on the diagonal)", value=True)
        try:
            st.plotly_chart(charts.confusion_figure(report, normalize=normalise), width="stretch")
        except ValueError as exc:
            st.warning(f"The confusion matrix in metrics.json is unusable: {exc}")

with tab_arch:
    if not arch_table.arch_rows(architectures):
        st.info("No architecture comparison for this model folder (python -m fer_core.training.arch_compare "
                "writes arch_comparison.json).")
    else:
        st.markdown(arch_table.arch_sentence(architectures))
        st.markdown("**How well each network reads faces**")
        _table([_rounded(r) for r in arch_table.arch_rows(architectures, arch_table.ARCH_QUALITY)])
        st.markdown("**What each costs**")
        _table([_rounded(r) for r in arch_table.arch_rows(architectures, arch_table.ARCH_COST)])
        st.caption(f"Measured on {architectures.get('hardware', 'this machine')}; validation figures of each "
                   "network's Keras model, ms per face of its served TFLite file at batch 1.")


def _side_file_figures(data, missing: str, unusable: str, draw, errors=(ValueError,)) -> None:
    """One side file's figures: a note when the file is absent, a warning (never a traceback) when unusable."""
    if not data:
        st.info(missing)
        return
    try:
        draw(data)
    except errors as exc:
        st.warning(f"{unusable}: {exc}")


def _training(history: list[dict]) -> None:
    st.plotly_chart(charts.training_figure(history), width="stretch")
    st.markdown("**Validation recall per class**")
    st.plotly_chart(charts.recall_figure(history), width="stretch")
    last = mr.check_history(history)
    total = sum(float(r.get("seconds") or 0) for r in last)
    st.caption(f"{len(last)} epochs, {total / 60:.0f} min of training in the run that produced this model.")


def _class_counts(counts) -> None:
    st.plotly_chart(charts.class_counts_figure(counts), width="stretch")
    st.caption("Training images per class. Few examples (disgust) make a class harder to learn; training "
               "counters this with focal loss and class-weighted sampling.")


with tab_train:
    _side_file_figures(history, "No training history (models/history.json) for this model.",
                       "The training history is unusable", _training)
with tab_data:
    _side_file_figures(counts, "No class counts (models/class_counts.json) for this model.",
                       "The class counts are unusable", _class_counts, (ValueError, TypeError))

st.subheader("Model card")
if card is None:
    st.info("No model card (models/MODEL_CARD.md) for this model yet.")
else:
    for title, body in mr.card_sections(card):
        with st.expander(title, expanded=False):
            st.markdown(mr.images_as_text(body))

if log is not None:
    st.subheader("Training log")
    with st.expander("How the model was trained: runs, tests and what was not shipped", expanded=False):
        st.markdown(mr.images_as_text(log))
