"""arch_table: the architecture comparison's rows and the sentence that says what they mean."""

from __future__ import annotations

from factories import fake_arch_table

from fer_core.core import arch_table


def test_architecture_rows_and_the_sentence_come_from_the_table():
    table = fake_arch_table()
    rows = arch_table.arch_rows(table)
    assert [r["arch"] for r in rows] == ["efficientnet_b0", "cnn"] and tuple(rows[0]) == arch_table.ARCH_COLUMNS
    assert rows[1]["params_m"] == 0.81
    assert set(arch_table.ARCH_QUALITY) | set(arch_table.ARCH_COST) == set(arch_table.ARCH_COLUMNS)
    said = arch_table.arch_sentence(table)
    assert "efficientnet_b0 reads FER+ faces best (macro-F1 0.610)" in said
    assert "cnn is the fastest (0.35 ms per face)" in said and "3 epochs over 11458 faces" in said
    table["rows"][1]["ferplus_valid_macro_f1"] = 0.7  # now the CNN is best and fastest
    assert "cnn reads FER+ faces best (macro-F1 0.700) and it is also the fastest" in arch_table.arch_sentence(table)
    assert arch_table.arch_rows(None) == [] and arch_table.arch_sentence({"rows": "bad"}) == ""


def test_a_comparison_where_nothing_learnt_says_it_ranks_costs_only():
    table = fake_arch_table()
    for row in table["rows"]:
        row["ferplus_valid_macro_f1"] = 0.07
    said = arch_table.arch_sentence(table)
    assert "no network learnt much" in said and "best FER+ macro-F1 0.070" in said and "cnn is the fastest" in said
