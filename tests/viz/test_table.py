import pytest

from brainlens.viz import save_figure, table_figure


def test_table_figure_grows_with_wrapped_notes(tmp_path):
    short = table_figure([("PixCorr", "0.392", "425 px")], "subject 1")
    long = table_figure([("PixCorr", "0.392", "425 px " * 60)], "subject 1")
    assert long.get_size_inches()[1] > short.get_size_inches()[1]
    texts = [t.get_text() for t in long.axes[0].texts]
    assert "subject 1" in texts and "0.392" in texts and any(t.count("\n") >= 3 for t in texts)
    save_figure(short, tmp_path / "table.png")
    assert (tmp_path / "table.png").stat().st_size > 0


def test_table_figure_refuses_bad_rows():
    with pytest.raises(ValueError, match="at least one row"):
        table_figure([])
    with pytest.raises(ValueError, match="each row must be \\(metric, value, note\\)"):
        table_figure([("PixCorr", "0.392")])
