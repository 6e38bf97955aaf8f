"""Model: evaluation figures, confusion matrix, training curves, class distribution, model card.

Reads the side files in models/ only; it never loads the network, so it imports no TensorFlow.
"""

import pandas as pd
import streamlit as st

from fer_core import model_report as mr
from fer_core.model_store import ModelFilesError, load_class_counts, load_history, load_metrics, load_model_config
from pages._common import MODEL_HINT, model_dir, show_error

st.title("Model")
directory = model_dir()


def _read(loader, what: str):
    """A side file, or None after a warning: one bad file must not hide the others."""
    try:
        return loader(directory)
    except ModelFilesError as exc:
        st.warning(f"The {what} could not be read: {exc}")
        return None


try:
    config = load_model_config(directory)
    st.markdown(f"Model folder `{directory}`: {config.get('backbone', 'EfficientNet-B0')}, input "
                f"{config['input_size']}x{config['input_size']}, serves **{config['served_model']}**, "
                f"preprocessing `{config['preprocessing']}`.")
    if config.get("placeholder"):
        st.warning("This is a placeholder model with untrained weights, shipped so the app runs until the trained "
                   "model lands.")
except ModelFilesError as exc:
    show_error(f"No usable model configuration: {exc}", MODEL_HINT)

metrics = _read(load_metrics, "evaluation figures (metrics.json)")
history = _read(load_history, "training history (history.json)")
counts = _read(load_class_counts, "class counts (class_counts.json)")

tab_eval, tab_train, tab_data, tab_card = st.tabs(["Evaluation", "Training", "Training data", "Model card"])

with tab_eval:
    found = mr.served_report(metrics)
    if found is None:
        st.info("No evaluation figures yet (models/metrics.json is missing). They appear here once a trained "
                "model is shipped; `python -m fer_core.evaluate --json` produces them.")
    else:
        which, report = found
        h = mr.headline(report)
        c1, c2, c3 = st.columns(3)
        c1.metric("Accuracy", f"{h['accuracy']:.1%}")
        c2.metric("Macro-F1", f"{h['macro_f1']:.3f}")
        c3.metric("Test images", f"{h['n']:,}")
        st.caption(f"The {which} model on {mr.split_name(metrics)}, which is also where the model was selected: "
                   "these are validation figures (see the model card).")
        reports = mr.all_reports(metrics)
        if len(reports) > 1:
            st.markdown("**The Keras model and the served model as each page runs it**")
            st.dataframe(pd.DataFrame([{"model": mr.REPORT_LABELS.get(k, k), **mr.headline(r)}
                                       for k, r in reports.items()]), hide_index=True)
        variants = mr.variant_rows(metrics)
        if variants:
            st.markdown("**TFLite variants measured** (the app serves the smallest that agrees with Keras)")
            st.dataframe(pd.DataFrame(variants), hide_index=True)
        rows = mr.per_class_rows(report)
        if rows:
            st.markdown("**Per class**")
            st.dataframe(pd.DataFrame(rows), hide_index=True, column_config={
                k: st.column_config.NumberColumn(k, format="%.3f") for k in ("precision", "recall", "f1", "specificity")
            })
        st.markdown("**Confusion matrix** (rows: true class, columns: predicted)")
        normalise = st.toggle("Show shares of each true class (recall on the diagonal)", value=True)
        try:
            st.plotly_chart(mr.confusion_figure(report, normalize=normalise), width="stretch")
        except ValueError as exc:
            st.warning(f"The confusion matrix in metrics.json is unusable: {exc}")

with tab_train:
    if not history:
        st.info("No training history (models/history.json) for this model.")
    else:
        try:
            st.plotly_chart(mr.training_figure(history), width="stretch")
            st.markdown("**Validation recall per class**")
            st.plotly_chart(mr.recall_figure(history), width="stretch")
            last = mr.check_history(history)
            total = sum(float(r.get("seconds") or 0) for r in last)
            st.caption(f"{len(last)} epochs, {total / 60:.0f} min of training in the run that produced this model.")
        except ValueError as exc:
            st.warning(f"The training history is unusable: {exc}")

with tab_data:
    if not counts:
        st.info("No class counts (models/class_counts.json) for this model.")
    else:
        try:
            st.plotly_chart(mr.class_counts_figure(counts), width="stretch")
            st.caption("Training images per class. Few examples (disgust) make a class harder to learn; training "
                       "counters this with focal loss and class-weighted sampling.")
        except (ValueError, TypeError) as exc:
            st.warning(f"The class counts are unusable: {exc}")

with tab_card:
    card = directory / "MODEL_CARD.md"
    if not card.is_file():
        st.info("No model card (models/MODEL_CARD.md) for this model yet.")
    else:
        try:
            parts = mr.split_markdown_images(card.read_text(encoding="utf-8"), directory)
        except (OSError, UnicodeDecodeError) as exc:
            parts = []
            st.warning(f"The model card could not be read: {exc}")
        for kind, value in parts:
            if kind == "image":
                st.image(value)
            else:
                st.markdown(value)
