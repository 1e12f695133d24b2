"""Remote sensing at flux towers: STAC search, Sentinel-2/-1, MODIS LST, clear-sky radiation.

Every step is a plain function that takes and returns labelled xarray; the ``ds.fluxgrid``
accessor (``add_clearsky``, ``add_s2``, ``add_s1``, ``add_lst``, ``add_gridded``) and the
recipe ``recipes/rs_cube.yaml`` call the same functions. Optional packages (pystac-client,
odc-stac, spyndex, pvlib, rasterio) are imported inside the functions that need them.

Modules
-------
stac
    Search a STAC API or an offline catalog around a site (re-exports the STAC helpers).
stac_load
    Load items into a site-centred cube; per-step statistics in bounded Dask blocks.
items
    Item times (UTC), solar and local dates, grouping items into time steps.
geometry
    UTM zone, tower position in a CRS, site-centred grids, footprint/annulus masks.
sentinel2
    Footprint means of NBAR reflectance, spectral indices, PCA, ``add_s2``.
s2_metadata, scl
    Sentinel-2 band names, DN scaling, sun/view angles; SCL and land-cover masks.
sentinel1
    Gamma0 VV/VH (linear, dB), DpRVI, annulus means around the tower.
modis
    MOD11A1/MYD11A1 land-surface temperature; FluxnetEO site files.
radiation
    Daily mean clear-sky shortwave radiation, vectorised over sites and days.
sample
    Any gridded product sampled at towers (nearest, bilinear, buffer mean).
align
    Acquisitions -> the site cube's local daily axis (one site or many); joining under
    canonical names.
sites
    Tower positions of a cube; running a per-site step over all sites.
brdf, indices, pca
    RossThick-LiSparse-R kernels and the c-factor; spyndex indices; PCA with loadings.
pipeline
    Per-site jobs on a Dask cluster, resumable from files (used by ``rs_cube``).
names, config
    Canonical names/attributes and status codes; the stage's config dataclasses.
testing
    Offline STAC catalogs with small COGs in the provider layouts.
"""

from __future__ import annotations

__all__: list[str] = []
