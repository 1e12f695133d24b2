import numpy as np
import pytest
import xarray as xr

from fluxgrid.errors import GridError
from fluxgrid.plots import (
    plot_attention,
    plot_history,
    plot_obs_pred,
    plot_scatter,
    plot_transfer_matrix,
)
from fluxgrid.prep.splits import random_year_split

pytest.importorskip("matplotlib")


@pytest.fixture()
def pairs(demo_cube):
    split = random_year_split(demo_cube, target="gpp_nt", seed=0)
    return xr.Dataset(
        {"obs": demo_cube.gpp_nt, "pred": demo_cube.gpp_dt, "part": split.part},
        attrs={"target": "gpp_nt"},
    )


def test_obs_pred_per_test_year(pairs, tmp_path):
    fig = plot_obs_pred(pairs, "DE-Hai", path=tmp_path / "a.png")
    test_years = np.unique(pairs.time.dt.year.values[(pairs.part.sel(site="DE-Hai") == 3).values])
    assert len(fig.axes) == test_years.size
    assert (tmp_path / "a.png").stat().st_size > 1000
    with pytest.raises(GridError):
        plot_obs_pred(pairs, "XX-Nop")


def test_scatter(pairs, tmp_path):
    fig = plot_scatter(pairs, part=None, path=tmp_path / "s.png")  # dense: hexbin
    assert "R2" in fig.axes[0].texts[0].get_text()
    plot_scatter(pairs.isel(site=[0]), part="test")


def test_transfer_heatmap(pairs, tmp_path):
    from fluxgrid.evaluate import transfer_matrix

    tm = transfer_matrix({"US-MMS": pairs, "DE-Hai": pairs})
    ref = xr.full_like(tm.r2, 0.5)
    fig = plot_transfer_matrix(tm, reference=ref, path=tmp_path / "t.png")
    assert "(0.50)" in fig.axes[0].texts[0].get_text()
    with pytest.raises(GridError):
        plot_transfer_matrix(tm.r2.rename(train_site="x"))


def test_attention_and_history(tmp_path):
    rng = np.random.default_rng(0)
    alpha = rng.random((50, 3, 10))
    beta = rng.random((50, 3))
    att = xr.Dataset(
        {
            "alpha": (("sample", "variable", "lag"), alpha / alpha.sum(-1, keepdims=True)),
            "beta": (("sample", "variable"), beta / beta.sum(-1, keepdims=True)),
        },
        coords={"variable": ["ta", "sw_in", "vpd"], "lag": np.arange(10)},
    )
    fig = plot_attention(att, path=tmp_path / "att.png")
    assert len(fig.axes) == 3
    # sharp attention: 95% of the windows put all weight on ta, 5% on vpd, so the mean
    # beta of vpd (0.05) lies outside its 10-90% range (0, 0): still drawn
    sharp = np.zeros((100, 3))
    sharp[:95, 0] = 1.0
    sharp[95:, 2] = 1.0
    fig = plot_attention(att.isel(sample=[0] * 100).assign(beta=(("sample", "variable"), sharp)))
    bars = [p.get_width() for p in fig.axes[0].patches]
    np.testing.assert_allclose(bars, [0.95, 0.0, 0.05])
    hist = xr.Dataset(
        {"train_loss": ("epoch", [1.0, 0.5, 0.4]), "val_loss": ("epoch", [1.1, 0.6, 0.7])},
        coords={"epoch": [1, 2, 3]},
        attrs={"best_epoch": 2, "loss": "mse"},
    )
    plot_history(hist, path=tmp_path / "h.png")
    assert (tmp_path / "h.png").exists()


def test_single_panel_plots_draw_into_given_axes(pairs):
    from fluxgrid.evaluate import transfer_matrix
    from fluxgrid.plots import new_figure

    fig = new_figure((8.0, 3.0))
    left, right = fig.subplots(1, 2)
    assert plot_scatter(pairs, part=None, ax=left) is fig
    tm = transfer_matrix({"US-MMS": pairs, "DE-Hai": pairs})
    assert plot_transfer_matrix(tm, ax=right) is fig
    assert len(fig.axes) == 4  # two panels and their colour bars, no new figure


def test_study_figures_moved_beside_their_studies():
    import fluxgrid.plots
    from fluxgrid.studies.gpp import figures as gpp
    from fluxgrid.studies.guided import figures as guided

    moved = {
        "plot_taylor": guided.plot_taylor,
        "plot_score_boxes": gpp.plot_score_boxes,
        "plot_extreme_series": gpp.plot_extreme_series,
        "plot_importance_ranking": gpp.plot_importance_ranking,
    }
    for name, function in moved.items():
        with pytest.warns(DeprecationWarning, match=f"plots.{name} moved to fluxgrid.studies"):
            assert getattr(fluxgrid.plots, name) is function
