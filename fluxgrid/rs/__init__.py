"""Remote sensing at flux towers: STAC search, Sentinel-2/-1, MODIS LST, clear-sky radiation.

Every step is a plain function that takes and returns labelled xarray; the ``ds.fluxgrid``
accessor (``add_clearsky``, ``add_s2``, ``add_s1``, ``add_lst``, ``add_gridded``) and the
recipe ``recipes/rs_cube.yaml`` call the same functions. Optional packages (pystac-client,
odc-stac, spyndex, pvlib, rasterio) are imported inside the functions that need them.

Modules
-------
stac
    Search a STAC API or an offline catalog around a site; load a site-centred cube.
sentinel2
    SCL masking, NBAR (c-factor), footprint means, spectral indices, PCA.
sentinel1
    Gamma0 VV/VH (linear, dB), DpRVI, annulus means around the tower.
modis
    MOD11A1/MYD11A1 land-surface temperature; FluxnetEO site files.
radiation
    Daily mean clear-sky shortwave radiation, vectorised over sites and days.
sample
    Any gridded product sampled at towers (nearest, bilinear, buffer mean).
align
    Acquisitions -> the site cube's local daily axis; joining under canonical names.
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
