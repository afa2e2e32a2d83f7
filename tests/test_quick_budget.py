"""The whole book in the quick profile fits CI's budget, summed from real runs (tools/quick_budget.py)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import quick_budget  # noqa: E402


def test_whole_book_fits_the_quick_budget():
    costs = quick_budget.book_costs()
    assert len(costs) >= 80, "every section of the book is counted"
    whole = quick_budget.total(costs)
    largest = sorted(costs, key=lambda c: -c.seconds)[:8]
    assert whole <= quick_budget.BUDGET_S, (
        f"全书 quick 配置共 {whole:.0f} 秒，超出预算 {quick_budget.BUDGET_S} 秒 (quick profile over budget); "
        f"largest: {[(c.section, c.seconds, c.source) for c in largest]}")


def test_every_section_counts_a_real_run():
    for c in quick_budget.book_costs():
        assert c.seconds > 1.0, f"{c.section}: {c.seconds} s ({c.source}) is no run's time"


def test_over_budget_fails(monkeypatch, capsys):
    fake = [quick_budget.Cost(f"chapters/part/s{i}.md", 100.0, "quick recording", (1,)) for i in range(14)]
    monkeypatch.setattr(quick_budget, "book_costs", lambda: fake)
    assert quick_budget.main([]) == 1          # 1400 s > 1320 s
    monkeypatch.setattr(quick_budget, "book_costs", lambda: fake[:13])
    assert quick_budget.main([]) == 0          # 1300 s
    assert "1300" in capsys.readouterr().out


def test_lecture_shares_count_sections_by_their_lectures():
    costs = [quick_budget.Cost("a", 10.0, "quick recording", (36,)),
             quick_budget.Cost("b", 20.0, "spread run", (71,)),
             quick_budget.Cost("c", 40.0, "quick recording", (52, 53))]
    assert quick_budget.total(costs, quick_budget.VISION) == 30.0
    assert quick_budget.total(costs, quick_budget.RNN_ATTENTION) == 40.0
    assert quick_budget.total(costs) == 70.0
