from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fluxgrid import catalog
from fluxgrid.catalog.units import UMOL_CO2_TO_GC_PER_DAY, convert, normalise
from fluxgrid.errors import DataNotFoundError, UnitError

REQUIRED = [
    "ta",
    "sw_in",
    "lw_in",
    "vpd",
    "p",
    "ws",
    "pa",
    "netrad",
    "ppfd_in",
    "swc",
    "ts",
    "le",
    "h",
    "nee",
    "gpp_nt",
    "gpp_dt",
    "reco_nt",
    "reco_dt",
]


def test_catalog_has_required_variables_with_units_and_aliases():
    for name in REQUIRED:
        var = catalog.get(name)
        assert var.units and var.long_name and var.aliases
        assert catalog.cf_attrs(name)["units"] == var.units


def test_aliases_resolve_to_canonical_names():
    assert catalog.resolve_column("TA_F") == "ta"
    assert catalog.resolve_column("ta_f_qc") == "ta_qc"
    assert catalog.resolve_column("NEE_VUT_REF") == "nee"
    assert catalog.resolve_column("GPP_NT_VUT_REF") == "gpp_nt"
    assert catalog.resolve_column("SWC_F_MDS_1") == "swc"
    assert catalog.resolve_column("NOT_A_COLUMN") is None
    assert catalog.alias_rank("TA_F") < catalog.alias_rank("TA_ERA")


def test_units_per_resolution_and_shared_qc():
    assert catalog.units_for("nee", "HH") == "umolCO2 m-2 s-1"
    assert catalog.units_for("nee", "DD") == "gC m-2 d-1"
    assert catalog.units_for("nee", "YY") == "gC m-2 y-1"
    assert catalog.units_for("p", "HH") == "mm"
    assert catalog.qc_name("gpp_nt") == "nee_qc"
    assert catalog.qc_name("ta") == "ta_qc"
    assert catalog.qc_attrs("nee", "HH")["flag_values"] == "0 1 2 3"


def test_unknown_variable_lists_known_ones():
    with pytest.raises(DataNotFoundError, match="known: ta"):
        catalog.get("temperature")


def test_unit_conversions_by_hand():
    np.testing.assert_allclose(convert(np.array([0.0, 300.0]), "K", "degC"), [-273.15, 26.85])
    np.testing.assert_allclose(convert(np.array([1.0]), "kPa", "hPa"), [10.0])
    np.testing.assert_allclose(convert(np.array([8.64]), "MJ m-2 d-1", "W m-2"), [100.0])
    np.testing.assert_allclose(
        convert(np.array([2.0]), "umolCO2 m-2 s-1", "gC m-2 d-1"), [2 * 12.011e-6 * 86400]
    )
    assert UMOL_CO2_TO_GC_PER_DAY == pytest.approx(1.0377504)
    np.testing.assert_allclose(convert(np.array([0.3]), "m3 m-3", "%"), [30.0])
    np.testing.assert_allclose(convert(np.array([36.0]), "km/h", "m s-1"), [10.0])


def test_monthly_totals_need_and_use_the_time_axis():
    time = pd.to_datetime(["2001-02-01", "2004-02-01", "2001-03-01"])
    np.testing.assert_allclose(
        convert(np.array([28.0, 29.0, 31.0]), "gC m-2 mon-1", "gC m-2 d-1", time=time), [1, 1, 1]
    )
    with pytest.raises(UnitError, match="needs the time axis"):
        convert(np.array([1.0]), "mm mon-1", "mm d-1")


def test_unit_errors_name_the_problem():
    with pytest.raises(UnitError, match="unknown unit 'furlongs'"):
        normalise("furlongs")
    with pytest.raises(UnitError, match="different quantities"):
        convert(np.array([1.0]), "degC", "W m-2", what="TA")
    assert normalise("W/m2") == "W m-2"
    assert normalise("µmol CO2 m-2 s-1") == "umolCO2 m-2 s-1"


@pytest.mark.parametrize(
    ("spelling", "canonical"),
    [
        ("W/m2", "W m-2"),
        ("W m**-2", "W m-2"),
        ("W m^-2", "W m-2"),
        ("J m-2 s-1", "W m-2"),
        ("MJ.m-2.d-1", "MJ m-2 d-1"),
        ("mm/day", "mm d-1"),
        ("mm day-1", "mm d-1"),
        ("percent", "%"),
        ("kg m-2", "mm"),
        ("degree_Celsius", "degC"),
        ("m.s-1", "m s-1"),
        ("µmol m⁻² s⁻¹", "umol m-2 s-1"),
        ("gC m-2 yr-1", "gC m-2 y-1"),
    ],
)
def test_udunits_spellings_of_known_units(spelling, canonical):
    assert normalise(spelling) == canonical


def test_udunits_spellings_convert_by_their_dimensions():
    one = np.array([1.0])
    # ERA5-style water fluxes: 1 kg m-2 of water is 1 mm
    np.testing.assert_allclose(convert(one, "kg/m2/s", "mm/day"), [86400.0])
    np.testing.assert_allclose(convert(one, "kg m-2 s-1", "mm d-1"), [86400.0])
    np.testing.assert_allclose(convert(one, "kgC m-2 s-1", "gC m-2 d-1"), [8.64e7])
    np.testing.assert_allclose(convert(one, "gCO2/m2/d", "gC m-2 d-1"), [12.011 / 44.0095])
    np.testing.assert_allclose(convert(one, "kJ m-2 h-1", "W m-2"), [1000 / 3600])
    with pytest.raises(UnitError, match="different quantities"):
        convert(one, "kg/m2/s", "W m-2")
    for bad in ("furlong/fortnight", "kg m-2 / s m", "m-"):
        with pytest.raises(UnitError, match="unknown unit"):
            normalise(bad)
