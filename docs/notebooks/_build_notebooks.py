"""Write the example notebooks from the cells below and execute them, outputs stored.

Run from the repository root after editing a notebook's cells here::

    python docs/notebooks/_build_notebooks.py            # all notebooks
    python docs/notebooks/_build_notebooks.py 02         # the ones whose name contains "02"

Each notebook is executed with nbclient in a fresh temporary folder (so the files it writes
do not land in the repository), and stored with its outputs (figures as inline PNG). The run
time of each is printed. Progress bars are switched off for the stored outputs
(``FLUXGRID_PROGRESS=0``); run interactively, the notebooks show them.
``tests/test_notebooks.py`` executes the stored notebooks again.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import pandas as pd
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent


def md(text: str):
    return nbformat.v4.new_markdown_cell(text.strip())


def code(text: str):
    return nbformat.v4.new_code_cell(text.strip())


def setup(*, numpy: bool = False, pandas: bool = False, torch: bool = False):
    """The first code cell of a notebook (a new cell each time), with the imports it uses."""
    imports = ["import warnings", ""]
    imports.append("import matplotlib.pyplot as plt")
    imports += ["import numpy as np"] if numpy else []
    imports += ["import pandas as pd"] if pandas else []
    imports += ["import torch"] if torch else []
    imports += ["import xarray as xr", "", "import fluxgrid", ""]
    body = [
        'warnings.filterwarnings("ignore", category=DeprecationWarning)',
        'warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm, no ipywidgets',
        "xr.set_options(display_expand_data=False, display_expand_attrs=False)",
    ]
    if torch:
        body += [
            "# small models, small batches: one thread is the fastest on a few shared CPU cores",
            "# (leave torch's default on a workstation or a GPU)",
            "torch.set_num_threads(1)",
        ]
    body.append('print("fluxgrid", fluxgrid.__version__)')
    return code("\n".join(["%matplotlib inline", *imports, *body]))


# --------------------------------------------------------------------------------------
# a. towers to a site cube
# --------------------------------------------------------------------------------------
A = [
    md(
        """
# From flux towers to a site cube

Eddy-covariance towers measure the net CO2 exchange between an ecosystem and the atmosphere
(NEE, negative when the ecosystem takes up carbon) every half hour, together with the
meteorological drivers (air temperature `ta`, incoming shortwave radiation `sw_in`, vapour
pressure deficit `vpd`). fluxgrid collects the towers into one **site cube**: an
`xarray.Dataset` with dims `(site, time)`, canonical names and units, and site coordinates
(latitude, longitude, IGBP vegetation type, UTC offset).

This notebook

1. reads FLUXNET2015 CSV files (the layout of the distributed FULLSET files),
2. builds local-standard-time days from the bundled half-hourly data of five towers,
3. masks days whose NEE rests on too much gap-filling (QC) and reports what was removed,
4. aggregates the days to months and plots a site's year,
5. writes the cube to Zarr.

Data: the FLUXNET2015 subset shipped with fluxgrid (US-MMS, US-UMB, DE-Hai, DE-Tha,
FR-Pue, 2007-2012; CC-BY-4.0, Pastorello et al. 2020, Sci Data 7, 225).
"""
    ),
    setup(),
    md(
        """
## 1. FLUXNET CSV files

FLUXNET2015, AmeriFlux and ICOS distribute one CSV per site and resolution
(`FLX_<site>_FLUXNET2015_FULLSET_HH_<years>_1-4.csv`, ...). The bundled subset is stored as
Zarr, so we first write one year of two towers' **real** records in that file layout
(`fluxgrid.testing.demo_fluxnet_frame` gives the records on local-time `TIMESTAMP_START`
stamps, half-hourly for DE-Hai, hourly for US-MMS). With your own downloads, point
`read_fluxnet` at the folder, a list of files or the zip archives instead.
"""
    ),
    code(
        """
from pathlib import Path

from fluxgrid.testing import demo_fluxnet_frame, write_fluxnet_csv

folder = Path("fluxnet_files")
for site in ["DE-Hai", "US-MMS"]:
    frame, resolution = demo_fluxnet_frame(site, "2010-01-01", 365)
    path = write_fluxnet_csv(folder, resolution, site, frame)
    print(path.name, f"{len(frame)} records")
frame.iloc[:3, :6]
"""
    ),
    md(
        """
`read_fluxnet` recognises site, resolution and product from the file names, maps the
FLUXNET columns onto canonical names (`TA_F` -> `ta`, `NEE_VUT_REF` -> `nee`, ...) and units
(NEE from umol m-2 s-1), and takes coordinates and IGBP classes from the FLUXNET2015 site list.
"""
    ),
    code(
        """
files_cube = fluxgrid.read_fluxnet(folder)
files_cube
"""
    ),
    md(
        """
## 2. Half-hours to local days

The bundled Zarr store holds the five towers half-hourly (hourly at the two US sites) with
UTC time stamps that label the *end* of each record, as in the full FLUXNET2015 Zarr store.
It opens lazily (Dask).
"""
    ),
    code(
        """
hh = fluxgrid.load_demo_hh()
print(dict(hh.sizes), "| NEE in", hh.nee.attrs["units"])
hh[["nee", "ta"]]
"""
    ),
    code(
        """
week = hh.sel(site="DE-Hai", time=slice("2010-07-01", "2010-07-08"))
fig, ax = plt.subplots(figsize=(9, 3))
ax.plot(week.time, week.nee, lw=1)
ax.axhline(0, color="k", lw=0.5)
ax.set(ylabel=f"NEE [{hh.nee.attrs['units']}]", title="DE-Hai, half-hourly NEE, July 2010 (UTC)")
plt.show()
"""
    ),
    md(
        """
The diurnal cycle is the signature of photosynthesis: uptake (NEE < 0) in daylight,
respiration (NEE > 0) at night. `to_daily` shifts each site to its **local standard time**
(`utc_offset`), averages each local day (fluxes become gC m-2 d-1) and records, as `<var>_qc`,
the fraction of the day's records that were measured or good-quality gap-filled. A day needs
`min_coverage` (50 %) of its records.
"""
    ),
    code(
        """
daily = hh.fluxgrid.to_daily().sel(time=slice("2007-01-01", "2012-12-31")).compute()
print(dict(daily.sizes), "| NEE in", daily.nee.attrs["units"])
daily[["nee", "nee_qc", "gpp_nt"]]
"""
    ),
    md(
        """
## 3. Quality control with a report

Long gaps in the half-hourly NEE are filled by the FLUXNET processing (marginal distribution
sampling); a day filled mostly by the gap-filling model says little about the ecosystem. We
keep daily NEE and GPP only where at least 70 % of the records are good, and drop a site whose
target is valid on fewer than 60 % of its days. The report counts every value removed, per
site, target and reason: nothing is dropped silently.
"""
    ),
    code(
        """
clean, report = daily.fluxgrid.qc_mask(threshold=0.7)
report.removed.sel(target="nee").to_pandas()
"""
    ),
    code(
        """
report.valid_fraction.to_pandas().round(2)
"""
    ),
    md(
        """
## 4. A site's year, and months

DE-Hai (Hainich, a beech forest in Germany) in 2010: NEE after QC (removed days in grey),
gross primary production (night-time partitioning) and the drivers.
"""
    ),
    code(
        """
year = slice("2010-01-01", "2010-12-31")
raw, kept = daily.sel(site="DE-Hai", time=year), clean.sel(site="DE-Hai", time=year)
fig, axes = plt.subplots(3, 1, figsize=(9, 7), sharex=True)
axes[0].plot(raw.time, raw.nee, color="0.7", lw=1, label="all days")
axes[0].plot(kept.time, kept.nee, color="C0", lw=1, label="after QC (>= 70 % good)")
axes[0].axhline(0, color="k", lw=0.5)
axes[0].set_ylabel("NEE [gC m-2 d-1]")
axes[0].legend(loc="lower left", fontsize=8)
axes[1].plot(kept.time, kept.gpp_nt, color="C2", lw=1)
axes[1].set_ylabel("GPP [gC m-2 d-1]")
axes[2].plot(raw.time, raw.ta, color="C3", lw=1)
axes[2].set_ylabel("ta [degC]")
twin = axes[2].twinx()
twin.plot(raw.time, raw.sw_in, color="C1", lw=0.8, alpha=0.6)
twin.set_ylabel("sw_in [W m-2]", color="C1")
fig.suptitle("DE-Hai, 2010")
fig.tight_layout()
plt.show()
"""
    ),
    md(
        """
`to_monthly` averages the days of each month (a month needs half of its days); with
`totals=True` fluxes become monthly sums (gC m-2 mon-1), which add up to annual budgets.
"""
    ),
    code(
        """
monthly = clean.fluxgrid.to_monthly(totals=True)
annual = monthly.nee.groupby("time.year").sum(min_count=12).to_pandas().T
print("annual NEE [gC m-2 yr-1] (years with 12 valid months):")
annual.round(0)
"""
    ),
    code(
        """
cycle = clean.fluxgrid.to_monthly().nee.groupby("time.month").mean()
fig, ax = plt.subplots(figsize=(7, 3.5))
for site in cycle.site.values:
    igbp = str(clean.igbp.sel(site=site).values)
    ax.plot(cycle.month, cycle.sel(site=site), marker="o", ms=3, label=f"{site} ({igbp})")
ax.axhline(0, color="k", lw=0.5)
ax.set(xlabel="month", ylabel="NEE [gC m-2 d-1]", title="Mean seasonal cycle, 2007-2012")
ax.legend(fontsize=8)
plt.show()
"""
    ),
    md(
        """
The deciduous forests (DBF) take up carbon in a short summer season (May-September); the
evergreen spruce forest at DE-Tha (ENF) starts in March and goes on into October; the
Mediterranean evergreen oak forest at FR-Pue (EBF) takes up carbon in winter and spring,
and its uptake stops in the summer drought (August-September).

## 5. Write the cube

`to_zarr` writes atomically (to a temporary sibling, then moved into place), so an
interrupted write never leaves a half-written store.
"""
    ),
    code(
        """
path = clean.fluxgrid.to_zarr("site_cube.zarr", overwrite=True)
again = fluxgrid.open_cube(path)
print(path, dict(again.sizes), sorted(again.data_vars)[:6])
"""
    ),
    md(
        """
The same chain runs on the full FLUXNET2015 store (204 towers) with
`fluxgrid.open_fluxnet_zarr("hh.zarr")`, or from the command line:
`fluxgrid ingest hh.zarr -o cube.zarr`.
Next: [train and compare models](02_train_and_compare.ipynb).
"""
    ),
]

# --------------------------------------------------------------------------------------
# b. train and compare
# --------------------------------------------------------------------------------------
B = [
    md(
        """
# Train and compare: LSTM, iLSTM, random forest

Daily NEE depends on the weather of the day and of the weeks before (phenology, soil water,
acclimation). All three models here see a **look-back window** of 30 days of `ta`, `sw_in`,
`vpd`, plus the day of year, the site's position and its IGBP class:

* **LSTM**: a recurrent network reading the window day by day;
* **iLSTM** (IMV-LSTM, Guo et al. 2019): one hidden state per input variable, with temporal
  attention (which days matter, `alpha`) and variable attention (which variables, `beta`);
* **RF**: a random forest on window aggregates (means over the last 1, 7, 30 days).

The split keeps whole years apart: a third of each site's years are for testing, validation
years are carved from the training years. Models are trained for a few epochs so that the
notebook runs in about a minute on two CPU cores; the scores show the workflow, not the skill
a full training reaches. SHAP needs the `explain` extra (`pip install "fluxgrid[explain]"`).
"""
    ),
    setup(pandas=True, torch=True),
    code(
        """
from fluxgrid.config import ExperimentConfig, from_dict

cube = fluxgrid.load_demo_cube()  # daily, 5 sites, 2007-2012
clean, report = cube.fluxgrid.qc_mask(threshold=0.7)


def experiment(model: str, params: dict, epochs: int = 8) -> ExperimentConfig:
    \"\"\"One experiment: the same data, split and windows for every model.\"\"\"
    return from_dict(
        ExperimentConfig,
        {
            "data": {
                "source": "demo",
                "drivers": ["ta", "sw_in", "vpd"],
                "target": "nee",
                "qc_threshold": None,  # the cube passed in is QC'd already
            },
            "split": {
                "method": "random_years",
                "test_fraction": 0.33,
                "validation": "years",
                "val_fraction": 0.2,
                "seed": 0,
            },
            "windows": {"lookback": 30, "static": ["doy", "latlon", "igbp"]},
            "model": {"name": model, "params": params},
            "train": {
                "epochs": epochs,
                "batch_size": 256,
                "lr": 0.003,
                "patience": 3,
                "seed": 0,
                "device": "cpu",
            },
        },
    )
"""
    ),
    md(
        """
`train_experiment` checks the whole configuration before reading data, fits the scaler on
the training part only, trains with early stopping on the validation years and writes a
run directory (config, scaler, split, checkpoint, history, predictions, metrics).
"""
    ),
    code(
        """
import time

models = {
    "lstm": {"hidden": 32},
    "ilstm": {"hidden": 8},
    "rf": {"n_estimators": 100, "min_samples_leaf": 5},
}
runs = {}
for name, params in models.items():
    start = time.perf_counter()
    run_dir = fluxgrid.train_experiment(
        experiment(name, params), output=f"runs/{name}", overwrite=True, cube=clean, progress=False
    )
    runs[name] = fluxgrid.load_run(run_dir, device="cpu")
    print(f"{name:6s} trained in {time.perf_counter() - start:5.1f} s -> {run_dir}")
"""
    ),
    code(
        """
history = xr.open_dataset(runs["lstm"].path / "history.nc")
fluxgrid.plot_history(history)
"""
    ),
    md(
        """
## Scores per site and per vegetation type

`run.predict(cube)` gives predictions on `(site, time)`; the run's split says which days are
test days. `scores` returns xarray (R2, RMSE, MAE, bias, ...) pooled or per group. With eight
epochs the iLSTM (one small hidden state per variable, plus attention) is the furthest from
converged; the forest needs no epochs. The Mediterranean FR-Pue, the only EBF site, is the
hardest for every model: its drought-limited uptake is unlike the other four forests.
"""
    ),
    code(
        """
preds = {name: run.predict(clean).assign(part=run.split().part) for name, run in runs.items()}
by_site = pd.DataFrame(
    {name: fluxgrid.scores(p, by="site", part="test").r2.to_pandas() for name, p in preds.items()}
)
by_site.round(2)
"""
    ),
    code(
        """
by_igbp = {name: fluxgrid.scores(p, by="igbp", part="test") for name, p in preds.items()}
pd.concat(
    {name: s[["r2", "rmse", "n"]].to_dataframe() for name, s in by_igbp.items()}, axis=1
).round(2)
"""
    ),
    code(
        """
ax = by_site.plot.bar(figsize=(7, 3.5), rot=0)
ax.set(ylabel="R2 on test years", title="Daily NEE, test years")
ax.axhline(0, color="k", lw=0.5)
plt.show()
"""
    ),
    md(
        """
## Observed vs predicted
"""
    ),
    code(
        """
fluxgrid.plot_obs_pred(preds["lstm"], "DE-Hai")
"""
    ),
    code(
        """
fig, axes = plt.subplots(1, 3, figsize=(11, 3.6), layout="constrained")
for ax, (name, p) in zip(axes, preds.items(), strict=True):
    fluxgrid.plot_scatter(p, ax=ax, title=name)
plt.show()
"""
    ),
    md(
        """
## iLSTM attention

`beta` is the share of the prediction each input variable carries (sums to 1); `alpha` is
each variable's temporal attention over the look-back (lag 0 = the target day).
"""
    ),
    code(
        """
att = runs["ilstm"].attention(clean, part="test")
fluxgrid.plot_attention(att)
"""
    ),
    code(
        """
summary = fluxgrid.attention_summary(runs["ilstm"], clean, part="test", by="igbp")
summary.beta.to_pandas().round(3)
"""
    ),
    md(
        """
## Permutation importance

For one driver at a time, each test window's whole look-back of that driver is swapped with
another window's of the same site; the loss of skill (increase in NRMSE) measures how much
the model relies on it. Five repeats give a spread.
"""
    ),
    code(
        """
importance = {
    name: fluxgrid.permutation_importance(runs[name], clean, "test", n_repeats=5)
    for name in ("lstm", "rf")
}
fig, axes = plt.subplots(1, 2, figsize=(10, 3.5), layout="constrained")
for ax, (name, imp) in zip(axes, importance.items(), strict=True):
    fluxgrid.plot_importance(imp, ax=ax, title=name)
plt.show()
"""
    ),
    md(
        """
## SHAP values

SHAP splits each prediction into additive contributions of the drivers. For the LSTM
fluxgrid computes expected gradients (integrated along paths from reference windows drawn
from the training years); for the forest it uses the exact TreeSHAP. We explain 150 test
windows with 4 references and 32 integration points (the defaults, 1000 windows x 8 x 64,
take minutes on a CPU) and check how well the contributions add up.
"""
    ),
    code(
        """
sv = fluxgrid.shap_values(runs["lstm"], clean, "test", max_windows=150, background=4, steps=32)
spread = float(sv.prediction.std())
print(f"largest additivity error: {float(abs(sv.additivity_error).max()):.3f} gC m-2 d-1 "
      f"(spread of the predictions {spread:.2f})")
fluxgrid.plot_shap_summary(sv, by="site")
"""
    ),
    code(
        """
sv_rf = fluxgrid.shap_values(runs["rf"], clean, "test", max_windows=150)
drivers = ["ta", "sw_in", "vpd"]
pd.DataFrame(
    {
        "lstm": fluxgrid.relative_contribution(sv, by=None, drivers=drivers).to_pandas(),
        "rf": fluxgrid.relative_contribution(sv_rf, by=None, drivers=drivers).to_pandas(),
    }
).round(1)
"""
    ),
    md(
        """
The table gives each meteorological driver's share (%) of the mean absolute SHAP value.
Radiation dominates daily NEE in these forests (light drives photosynthesis); temperature
and VPD modulate it. The same calls run from the command line
(`fluxgrid explain runs/lstm --method shap`). Next: [from a trained model to a
carbon-sink map](03_carbon_sink_map.ipynb).
"""
    ),
]

# --------------------------------------------------------------------------------------
# c. carbon-sink map
# --------------------------------------------------------------------------------------
C = [
    md(
        """
# From trained models to a carbon-sink map

Upscaling applies a model trained at towers to every cell of a grid of daily drivers, then
integrates the flux over area and time into regional carbon budgets (TgC yr-1; the sink is
-NEE). This notebook

1. trains an **ensemble** of three small LSTMs (different seeds),
2. builds a daily driver grid over western/central Europe,
3. reads **real land cover** (MODIS MCD12C1 2019, IGBP classes) onto the grid,
4. maps NEE for 2012 with every member, the ensemble mean and spread,
5. sums the map into regional totals per vegetation type, with the ensemble's spread.

**What the inputs are, honestly.** No gridded meteorology can be shipped with fluxgrid, so
the driver grid is a *stand-in* built from the towers' own daily measurements by inverse
distance weighting (`fluxgrid.tower_grid`; the grid's attributes say so). It is not a
meteorological product: real maps use ERA5 / ERA5-Land (`fluxgrid drivers era5_*.nc`,
`fluxgrid.read_era5`). The land cover is the real MCD12C1 product (bundled cut of this box,
doi:10.5067/MODIS/MCD12C1.006). Five towers of three forest types cannot represent a
continent: the totals illustrate the workflow, not a carbon budget of Europe.
"""
    ),
    setup(numpy=True, pandas=True, torch=True),
    code(
        """
from fluxgrid.config import ExperimentConfig, from_dict

cube = fluxgrid.load_demo_cube()
clean, _ = cube.fluxgrid.qc_mask(threshold=0.7)


def experiment(seed: int) -> ExperimentConfig:
    \"\"\"One member: the same data, split, windows and model; only the seed differs.\"\"\"
    return from_dict(
        ExperimentConfig,
        {
            "data": {"source": "demo", "drivers": ["ta", "sw_in", "vpd"], "target": "nee",
                     "qc_threshold": None},
            "split": {"method": "random_years", "test_fraction": 0.33, "validation": "years",
                      "val_fraction": 0.2, "seed": 0},
            "windows": {"lookback": 30, "static": ["doy", "latlon", "igbp"]},
            "model": {"name": "lstm", "params": {"hidden": 16}},
            "train": {"epochs": 6, "batch_size": 256, "lr": 0.003, "patience": 3,
                      "seed": seed, "device": "cpu"},
        },
    )
"""
    ),
    md(
        """
## 1. An ensemble of runs

The members share data, split and architecture and differ in their seed (initial weights,
batch order). Their spread is therefore the uncertainty from training alone; driver and
structural uncertainty would need members that differ in those.
"""
    ),
    code(
        """
runs = []
for seed in range(3):
    run_dir = fluxgrid.train_experiment(
        experiment(seed), output=f"runs/lstm_seed{seed}", overwrite=True, cube=clean,
        progress=False,
    )
    metrics = pd.read_csv(run_dir / "metrics.csv", index_col=0)
    print(f"{run_dir}: test R2 {metrics.loc['test', 'r2']:.2f}")
    runs.append(run_dir)
"""
    ),
    md(
        """
## 2. The driver grid

0.5 degree cells over 2-16 E, 43-53 N; each cell's daily `ta`, `sw_in`, `vpd` is the
inverse-distance-weighted mean of the three European towers. The grid starts one look-back
(29 days) before the map period, so that every day of 2012 has a complete input window.
"""
    ),
    code(
        """
period = ("2012-01-01", "2012-12-31")
first = pd.Timestamp(period[0]) - pd.Timedelta(days=29)
drivers = fluxgrid.tower_grid(
    clean.sel(time=slice(first, period[1])),
    sites=["DE-Hai", "DE-Tha", "FR-Pue"],
    bbox=(2.0, 43.0, 16.0, 53.0),
    resolution=0.5,
)
drivers = drivers.drop_vars("igbp")  # the nearest tower's class; real land cover below
print(drivers.attrs["title"])
print(dict(drivers.sizes))
"""
    ),
    code(
        """
fig, axes = plt.subplots(1, 2, figsize=(10, 3.5), layout="constrained")
drivers.ta.sel(time="2012").mean("time").plot(ax=axes[0], cmap="RdYlBu_r",
                                              cbar_kwargs={"label": "ta [degC]"})
drivers.sw_in.sel(time="2012").mean("time").plot(ax=axes[1], cmap="magma",
                                                 cbar_kwargs={"label": "sw_in [W m-2]"})
titles = ["mean air temperature 2012", "mean shortwave radiation 2012"]
for ax, name in zip(axes, titles, strict=True):
    ax.set_title(name)
plt.show()
"""
    ),
    md(
        """
## 3. Land cover

`open_land_cover` reads MCD12C1 (0.05 degree) as IGBP codes; `vegetation_type` gives each
0.5 degree cell its dominant class from exact area overlaps (water never dominates a coastal
cell), `land_mask` the cells that are mostly land.
"""
    ),
    code(
        """
from fluxgrid.data import demo_land_cover_path
from fluxgrid.grids import IGBP_CLASSES, land_mask, open_land_cover, vegetation_type

land_cover = open_land_cover(demo_land_cover_path())
igbp = vegetation_type(land_cover, target=drivers)
land = land_mask(land_cover, target=drivers)
names = {code: abbr for code, (abbr, _) in IGBP_CLASSES.items()}
counts = pd.Series(igbp.values[land.values]).map(names).value_counts()
print("0.5 degree land cells per dominant class:", counts.to_dict())
"""
    ),
    md(
        """
The towers are three forest types (DBF, ENF, EBF). A cell of another class (cropland,
grassland, mixed forest) would get an IGBP input the models never saw, so we map only the
cells whose dominant class is one of the three: everything else is masked, and counted in
the map's attributes.
"""
    ),
    code(
        """
trained = [code for code, abbr in names.items() if abbr in ("ENF", "EBF", "DBF")]
forest = land & igbp.isin(trained)
fig, axes = plt.subplots(1, 2, figsize=(10, 3.5), layout="constrained")
igbp.where(land).plot(ax=axes[0], cmap="tab20", levels=np.arange(0.5, 18), add_colorbar=True,
                      cbar_kwargs={"label": "IGBP code"})
axes[0].set_title("dominant IGBP class (MCD12C1 2019)")
forest.plot(ax=axes[1], cmap="Greens", add_colorbar=False)
axes[1].set_title(f"mapped: {int(forest.sum())} cells of ENF, EBF, DBF")
plt.show()
"""
    ),
    md(
        """
## 4. Upscaling

`upscale_ensemble` builds one lazy Dask task per tile of cells; inside a task the cells are
one batch on the device and every member predicts them. The result holds the ensemble mean,
its standard deviation and (here) each member.
"""
    ),
    code(
        """
ensemble = fluxgrid.upscale_ensemble(
    drivers, runs, mask=forest, igbp=igbp, period=period, keep_members=True, device="cpu"
).compute()
print(ensemble.attrs["cells_mapped"], "cells mapped;", ensemble.attrs["mask_rules"])
ensemble[["nee_mean", "nee_std"]]
"""
    ),
    code(
        """
fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), layout="constrained")
fluxgrid.plot_mean_annual_nee(ensemble.nee_mean, ax=axes[0], title="ensemble mean NEE, 2012")
(ensemble.nee_member.mean("time").std("member") * 365).plot(
    ax=axes[1], cmap="viridis", cbar_kwargs={"label": "gC m-2 yr-1"}
)
axes[1].set_title("spread of the members' annual NEE (sd)")
plt.show()
"""
    ),
    md(
        """
The map is written as CF-1.8 NetCDF (atomic, compressed), carrying the models' and the
drivers' provenance in its attributes; `check_cf` lists any CF problem (none here).
"""
    ),
    code(
        """
path = ensemble[["nee_mean", "nee_std"]].fluxgrid.to_map("nee_map.nc", overwrite=True)
print(path, "| CF problems:", fluxgrid.check_cf(path))
"""
    ),
    md(
        """
## 5. Regional totals per vegetation type

`map_totals` integrates the daily flux over each cell's area (WGS84 ellipsoid) and the days
of the year, for all mapped cells and per IGBP class. Summing each member's map gives the
totals' spread.
"""
    ),
    code(
        """
regions = igbp.where(forest, -1).astype(igbp.dtype)  # the mapped cells only
regions.attrs = igbp.attrs  # flag_values / flag_meanings name the classes
table = fluxgrid.map_totals(ensemble, regions, variable="nee_mean")
members = xr.concat(
    [fluxgrid.map_totals(ensemble.nee_member.sel(member=m), regions) for m in ensemble.member],
    dim="member",
)
sinks = pd.DataFrame(
    {
        "sink, ensemble mean map [TgC yr-1]": table.sink.sel(year=2012).to_pandas(),
        "members: mean": members.sink.sel(year=2012).mean("member").to_pandas(),
        "members: sd": members.sink.sel(year=2012).std("member").to_pandas(),
        "area [1000 km2]": table.area.to_pandas() / 1e9,
    }
)
# the table's "all" area is the whole grid; the mapped area is that of the forest cells
sinks.loc["all", "area [1000 km2]"] = float(fluxgrid.cell_area(drivers).where(forest).sum()) / 1e9
sinks.round(2)
"""
    ),
    code(
        """
fluxgrid.plot_regional_totals(table, title="Carbon sink of the mapped forest cells, 2012")
"""
    ),
    md(
        """
The same steps run from the command line (`fluxgrid upscale runs/a runs/b drivers.zarr -o
nee_map.nc --totals sinks.csv`) and as the `upscale` recipe on a Dask cluster.
Next: [remote sensing at a tower](04_remote_sensing_at_a_tower.ipynb).
"""
    ),
]

# --------------------------------------------------------------------------------------
# d. remote sensing at a tower
# --------------------------------------------------------------------------------------
D = [
    md(
        """
# Remote sensing at a tower, offline

Satellites see the canopy the tower stands in: Sentinel-2 reflectances give greenness and
water indices, Sentinel-1 radar backscatter responds to canopy water and structure, MODIS
land-surface temperature to the surface energy balance, and clear-sky radiation says how much
light a cloudless day would bring. fluxgrid reduces each product to the tower's footprint and
joins it to the daily site cube on **local standard-time days**, with a status per day.

This notebook runs without a network: `fluxgrid.rs.testing` writes small offline STAC
catalogs with Cloud-Optimised GeoTIFFs in the real provider layouts (Sentinel-2 L2A as
served by the Planetary Computer, Sentinel-1 RTC, MOD11A1/MYD11A1). **Their pixel values
are synthetic** (a seasonal vegetation/soil mixture with clouds, shadow and no-data dates):
they exercise the processing, they are not observations of these forests. For real data,
pass a STAC API instead, e.g. `StacConfig(source="https://planetarycomputer.microsoft.com/api/stac/v1",
sign="planetary_computer.sign")`. Needs the `rs` extra (`pip install "fluxgrid[rs]"`).
"""
    ),
    setup(pandas=True),
    code(
        """
from fluxgrid.rs.config import ClearSkyConfig
from fluxgrid.rs.testing import write_modis_catalog, write_s1_catalog, write_s2_catalog

cube = fluxgrid.load_demo_cube().sel(
    site=["DE-Hai", "DE-Tha"], time=slice("2010-05-01", "2010-07-31")
)
sites = {
    str(s): (float(cube.latitude.sel(site=s)), float(cube.longitude.sel(site=s)))
    for s in cube.site.values
}
dates = pd.date_range("2010-05-02", "2010-07-31", freq="5D")  # Sentinel-2 revisit
conditions = (["clear", "cloud_patch", "clear", "cloudy", "clear", "shadow", "clear"] * 3)
s2_source = write_s2_catalog("catalogs/s2", sites, dates, conditions=conditions[: len(dates)])
s1_source = write_s1_catalog("catalogs/s1", sites, pd.date_range("2010-05-03", "2010-07-31",
                                                                 freq="6D"))
lst_source = write_modis_catalog("catalogs/lst", sites, pd.date_range("2010-05-01", "2010-07-31",
                                                                      freq="2D"))
print(s2_source, s1_source, lst_source, sep="\\n")
"""
    ),
    md(
        """
## Sentinel-2: search, footprint, NBAR

`search_items` filters the catalog by collection, footprint and dates (an API URL is searched
with pystac-client). `s2_footprint` then, per acquisition, scales the digital numbers,
masks clouds, shadows, snow and no-data with the scene classification (SCL), corrects the
reflectances to nadir view (NBAR, c-factor with the Roy et al. 2017 BRDF coefficients) and
averages the valid pixels within 1 km of the tower.
"""
    ),
    code(
        """
lat, lon = sites["DE-Hai"]
items = fluxgrid.search_items(
    s2_source, lat, lon, collections="sentinel-2-l2a", start="2010-05-01", end="2010-07-31"
)
footprint = fluxgrid.s2_footprint(items, lat, lon, site="DE-Hai").compute()
table = footprint[["clear_share", "status", "sza", "vza"]].to_dataframe()
table["condition"] = conditions[: len(items)]
table.round(3)
"""
    ),
    md(
        """
Status 0 is a valid footprint; 3 means every footprint pixel was masked (the cloudy date).
Partly cloudy and shadowed dates keep the clear pixels (`clear_share` < 1). From the
footprint reflectances `compute_indices` evaluates any of the 244 Sentinel-2 indices of the
Awesome Spectral Indices catalogue (via spyndex):
"""
    ),
    code(
        """
indices = fluxgrid.compute_indices(footprint.reflectance, ["NDVI", "EVI", "NIRv", "kNDVI", "NDMI"])
indices.to_pandas().round(3)
"""
    ),
    md(
        """
## Joined to the daily cube

`add_s2` does the same for every site, computes all indices, standardises them and keeps the
principal components explaining 99 % of their variance (`s2_pc1..`), joins a few named
indices (`s2_ndvi`, ...) and the reflectances, and interpolates between acquisitions when
asked (status 5). `add_s1`, `add_lst` and `add_clearsky` add backscatter, land-surface
temperature and clear-sky radiation the same way.
"""
    ),
    code(
        """
rs = cube.fluxgrid.add_clearsky(config=ClearSkyConfig(step_minutes=60))
rs = rs.fluxgrid.add_s2(s2_source, interpolate=True)
rs = rs.fluxgrid.add_s1(s1_source)
rs = rs.fluxgrid.add_lst(lst_source)
rs = rs.compute()
new = [v for v in rs.data_vars if v not in cube.data_vars]
print(len(new), "variables added, e.g.", ", ".join(new[:12]), "...")
"""
    ),
    code(
        """
explained = rs.s2_pca_explained.to_pandas()
print("variance explained by the components:", explained.round(4).to_dict())
loadings = rs.s2_pca_loadings.sel(s2_pc=1).to_pandas()
print("largest loadings of PC1:")
loadings.abs().sort_values(ascending=False).head(8).round(3)
"""
    ),
    code(
        """
status = rs.s2_status.sel(site="DE-Hai").to_pandas()
codes = [int(c) for c in rs.s2_status.attrs["flag_values"]]
meanings = dict(zip(codes, rs.s2_status.attrs["flag_meanings"].split(), strict=True))
status.map(meanings).value_counts()
"""
    ),
    code(
        """
hai = rs.sel(site="DE-Hai")
fig, axes = plt.subplots(4, 1, figsize=(9, 9), sharex=True, layout="constrained")
axes[0].plot(hai.time, hai.s2_ndvi, color="C2", label="NDVI (interpolated between dates)")
ok = hai.s2_status == 0
axes[0].plot(hai.time[ok], hai.s2_ndvi[ok], "o", color="C2", ms=4, label="acquisition")
axes[0].set_ylabel("NDVI")
axes[0].legend(fontsize=8)
axes[1].plot(hai.time, hai.s1_vv_db, "o", label="VV")
axes[1].plot(hai.time, hai.s1_vh_db, "o", label="VH")
axes[1].set_ylabel("gamma0 [dB]")
axes[1].legend(fontsize=8)
axes[2].plot(hai.time, hai.lst_terra_day, "o", ms=4, label="Terra day")
axes[2].plot(hai.time, hai.lst_aqua_night, "o", ms=4, label="Aqua night")
axes[2].plot(hai.time, hai.ta, color="k", lw=0.8, label="air temperature (tower)")
axes[2].set_ylabel("degC")
axes[2].legend(fontsize=8)
axes[3].plot(hai.time, hai.sw_clearsky, label="clear-sky (Ineichen)")
axes[3].plot(hai.time, hai.sw_in, label="measured (tower)")
axes[3].set_ylabel("sw [W m-2]")
axes[3].legend(fontsize=8)
fig.suptitle("DE-Hai, May-July 2010: satellite products (synthetic pixels) and tower data")
plt.show()
"""
    ),
    md(
        """
The radiation and tower variables are real; the satellite series are the fixture's. The
ratio of measured to clear-sky radiation is a daily cloudiness index, a useful predictor of
its own. The joined cube is an ordinary site cube: write it with `to_zarr`, or train on
`s2_pc1`, `lst_terra_day` or `sw_clearsky` as drivers. For many sites on a Dask cluster, run
`fluxgrid run recipes/rs_cube.yaml` (one job per site, resumable).
"""
    ),
    code(
        """
path = rs.fluxgrid.to_zarr("rs_cube.zarr", overwrite=True)
print(path, dict(fluxgrid.open_cube(path).sizes))
"""
    ),
]

NOTEBOOKS = {
    "01_towers_to_site_cube.ipynb": A,
    "02_train_and_compare.ipynb": B,
    "03_carbon_sink_map.ipynb": C,
    "04_remote_sensing_at_a_tower.ipynb": D,
}


def build(name: str, cells: list) -> float:
    """Write notebook ``name`` from ``cells``, execute it in a temporary folder, store it."""
    nb = nbformat.v4.new_notebook()
    nb.cells = cells
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    with tempfile.TemporaryDirectory(prefix="fluxgrid-nb-") as tmp:
        start = time.perf_counter()
        NotebookClient(
            nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": tmp}}
        ).execute()
        seconds = time.perf_counter() - start
    for number, cell in enumerate(nb.cells):
        timing = cell.metadata.pop("execution", None)
        if timing and "iopub.status.idle" in timing:
            took = pd.Timestamp(timing["iopub.status.idle"]) - pd.Timestamp(
                timing["iopub.execute_input"]
            )
            if took.total_seconds() > 5:
                print(f"    cell {number}: {took.total_seconds():.1f} s")
    nbformat.validate(nb)
    nbformat.write(nb, HERE / name)
    return seconds


if __name__ == "__main__":
    # stored outputs without progress bars (they are time-dependent noise in a document)
    os.environ["FLUXGRID_PROGRESS"] = "0"
    wanted = sys.argv[1:]
    for name, cells in NOTEBOOKS.items():
        if wanted and not any(w in name for w in wanted):
            continue
        print(f"{name}: {build(name, cells):.1f} s", flush=True)
    # the cells' code in the project's style (outputs unchanged)
    subprocess.run(["ruff", "format", "--quiet", str(HERE)], check=False)
