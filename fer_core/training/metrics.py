"""Classification metrics in the JSON shape the evaluate CLI, the model card and the app share."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from fer_core.core.labels import CLASSES


def classification_report(y_true: np.ndarray, y_pred: np.ndarray, skipped: int = 0,
                          classes: tuple[str, ...] = CLASSES) -> dict:
    """Accuracy, macro-F1, per-class precision/recall/F1/specificity/support, confusion matrix.

    Confusion-matrix rows are true classes, columns predicted classes, both in ``classes`` order (the seven, or eight with contempt).
    """
    y_true = np.asarray(y_true, int)
    y_pred = np.asarray(y_pred, int)
    labels = list(range(len(classes)))
    if y_true.size == 0:  # sklearn refuses empty input; an empty evaluation is all zeros
        cm = np.zeros((len(labels), len(labels)), int)
        prec = rec = f1 = support = np.zeros(len(labels))
    else:
        cm = confusion_matrix(y_true, y_pred, labels=labels)
        prec, rec, f1, support = precision_recall_fscore_support(
            y_true, y_pred, labels=labels, zero_division=0
        )
    n = int(cm.sum())
    per_class = {}
    for i, name in enumerate(classes):
        tp = cm[i, i]
        fp = cm[:, i].sum() - tp
        fn = cm[i, :].sum() - tp
        tn = n - tp - fp - fn
        per_class[name] = {
            "precision": float(prec[i]), "recall": float(rec[i]), "f1": float(f1[i]),
            "specificity": float(tn / (tn + fp)) if (tn + fp) else 0.0, "support": int(support[i]),
        }
    present = [i for i in labels if support[i] > 0]
    return {
        "accuracy": float(np.trace(cm) / n) if n else 0.0,
        "macro_f1": float(np.mean(f1[present])) if present else 0.0,
        "per_class": per_class,
        "confusion_matrix": cm.tolist(),
        "classes": list(classes),
        "n": n,
        "skipped": int(skipped),
    }
