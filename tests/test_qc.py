from __future__ import annotations

import numpy as np
import pytest

from fluxgrid.errors import ColumnError, ConfigError, DataNotFoundError
from fluxgrid.prep.qc import REASONS, qc_mask


def test_qc_masks_low_quality_days_and_reports_counts(demo_cube):
    masked, report = qc_mask(demo_cube, threshold=0.7, min_valid_fraction=0.0)
    nee, qc = demo_cube.nee.values, demo_cube.nee_qc.values
    expected_low = (~np.isnan(nee)) & (np.nan_to_num(qc) < 0.7)
    assert np.isnan(masked.nee.values[expected_low]).all()
    keep = (~np.isnan(nee)) & ~expected_low
    np.testing.assert_array_equal(masked.nee.values[keep], nee[keep])
    counted = report.removed.sel(target="nee", reason="low_qc").values
    np.testing.assert_array_equal(counted, expected_low.sum(axis=1))
    assert list(report.reason.values) == list(REASONS)


def test_negative_gpp_removed_and_counted(demo_cube):
    masked, report = qc_mask(demo_cube, threshold=0.0, min_valid_fraction=0.0)
    gpp = demo_cube.gpp_nt.values
    negatives = (gpp < 0).sum(axis=1)
    assert negatives.sum() > 0  # real data has partitioning artefacts below zero
    np.testing.assert_array_equal(
        report.removed.sel(target="gpp_nt", reason="negative_gpp").values, negatives
    )
    assert np.nanmin(masked.gpp_nt.values) >= 0
    # NEE may be negative (uptake) and is untouched by the GPP rule
    assert np.nanmin(masked.nee.values) < 0


def test_sites_with_too_little_valid_data_are_dropped(demo_cube):
    cube = demo_cube.copy()
    cube["nee"][0, :] = np.nan  # first site loses its target
    cube["nee"][0, :10] = 1.0
    masked, report = qc_mask(cube, threshold=0.0, min_valid_fraction=0.6, targets=["nee"])
    first = str(cube.site.values[0])
    assert first not in masked.site.values
    assert bool(report.dropped.sel(site=first))
    assert int(report.removed.sel(site=first, target="nee", reason="site_dropped")) == 10
    assert masked.sizes["site"] == cube.sizes["site"] - 1


def test_bad_qc_arguments(demo_cube):
    with pytest.raises(ConfigError, match=r"QC threshold 70: .* between 0 and 1.*--qc"):
        qc_mask(demo_cube, threshold=70)
    with pytest.raises(ConfigError, match=r"min_valid_fraction -3: .*--min-valid-fraction"):
        qc_mask(demo_cube, min_valid_fraction=-3)
    with pytest.raises(DataNotFoundError, match="reco_nt"):
        qc_mask(demo_cube, targets=["reco_nt"])
    with pytest.raises(ColumnError, match="nee_qc"):
        qc_mask(demo_cube.drop_vars("nee_qc"), targets=["nee"])
