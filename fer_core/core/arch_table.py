"""The architecture comparison table (fer_core.training.arch_compare's arch_comparison.json): its
columns and the one sentence that says what it means, shared by the Model page and the model card.

Pure functions over the JSON; no Streamlit, no TensorFlow.
"""

from __future__ import annotations

from collections.abc import Mapping

# The architecture comparison's columns (arch_compare's row keys): how well each network reads faces,
# and what it costs; the Model page shows them as two tables (one would not fit beside the sidebar).
ARCH_QUALITY = ("arch", "ferplus_valid_accuracy", "ferplus_valid_macro_f1", "ckplus_valid_accuracy", "epochs",
                "train_minutes")
ARCH_COST = ("arch", "params_m", "mflops_per_face", "served_ms_p50", "served_variant", "served_size_mb",
             "int8_agreement", "int8_accuracy_drop", "int8_ms_p50")
ARCH_COLUMNS = (*ARCH_QUALITY, *ARCH_COST[1:])
# Below this FER+ macro-F1 a network has learnt little (naming one expression for every face scores
# about 0.06 with seven classes): a comparison where even the best is below it ranks costs only.
LEARNT_MACRO_F1 = 0.2


def arch_rows(table: Mapping | None, columns: tuple[str, ...] = ARCH_COLUMNS) -> list[dict]:
    """One row per architecture of arch_comparison.json with these columns, parameters in millions."""
    rows = table.get("rows") if isinstance(table, Mapping) else None
    out = []
    for row in rows if isinstance(rows, list) else []:
        if isinstance(row, Mapping) and "arch" in row:
            row = {**row, "params_m": round(float(row.get("params", 0)) / 1e6, 2)}
            out.append({k: row.get(k) for k in columns})
    return out


def arch_sentence(table: Mapping | None) -> str:
    """What the comparison says, in one sentence made from its own figures."""
    rows = [r for r in arch_rows(table) if isinstance(r.get("ferplus_valid_macro_f1"), (int, float))
            and isinstance(r.get("served_ms_p50"), (int, float))]
    if not rows:
        return ""
    budget = table.get("budget") or {}
    best = max(rows, key=lambda r: r["ferplus_valid_macro_f1"])
    fastest = min(rows, key=lambda r: r["served_ms_p50"])
    if best["ferplus_valid_macro_f1"] < LEARNT_MACRO_F1:
        return (f"In this budget ({budget.get('epochs', '?')} epochs over {budget.get('train_faces_per_epoch', '?')} "
                f"faces each) no network learnt much beyond naming one expression for most faces (best FER+ "
                f"macro-F1 {best['ferplus_valid_macro_f1']:.3f}), so the table compares what each costs, not how "
                f"well it reads faces; {fastest['arch']} is the fastest ({fastest['served_ms_p50']:.2f} ms per face).")
    quick = (f"{fastest['arch']} is the fastest ({fastest['served_ms_p50']:.2f} ms per face)" if fastest is not best
             else "it is also the fastest")
    return (f"Trained the same way for the same short budget ({budget.get('epochs', '?')} epochs over "
            f"{budget.get('train_faces_per_epoch', '?')} faces each), {best['arch']} reads FER+ faces best "
            f"(macro-F1 {best['ferplus_valid_macro_f1']:.3f}) and {quick}; a short budget ranks the networks "
            "early in training, not at their best.")
