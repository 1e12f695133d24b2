"""Readers and writers: FLUXNET files, the FLUXNET2015 Zarr store, plain tables, site cubes."""
