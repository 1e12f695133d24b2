"""Canonical names, units and attributes of remote-sensing variables in the site cube.

Names never carry units. Per-date outcomes are recorded in ``<product>_status`` variables
(int8, CF flag attributes) so that a missing value always has a stated reason.

Examples
--------
>>> rs_attrs("s1_vv_db")["units"]
'dB'
>>> STATUS["below_min_share"]
4
"""

from __future__ import annotations

from typing import Any

__all__ = ["STATUS", "STATUS_NAMES", "rs_attrs", "status_attrs"]

#: per-date status codes of every remote-sensing product in the site cube
STATUS: dict[str, int] = {
    "ok": 0,
    "no_acquisition": 1,
    "no_data": 2,
    "all_masked": 3,
    "below_min_share": 4,
    "interpolated": 5,
}
STATUS_NAMES = {v: k for k, v in STATUS.items()}

_STATUS_TEXT = {
    "ok": "valid value from an acquisition on this local day",
    "no_acquisition": "no acquisition on this local day",
    "no_data": "acquisition without data at the footprint (swath/tile edge, nodata)",
    "all_masked": "every footprint pixel masked (cloud, shadow, snow, land cover, quality)",
    "below_min_share": "clear/valid pixel share below the configured minimum",
    "interpolated": "value linearly interpolated between acquisitions",
}

_FIXED: dict[str, dict[str, str]] = {
    "sw_clearsky": {
        "long_name": "daily mean clear-sky incoming shortwave radiation",
        "standard_name": "surface_downwelling_shortwave_flux_in_air_assuming_clear_sky",
        "units": "W m-2",
    },
    "sw_in_pot": {
        "long_name": "potential (top-of-atmosphere) incoming shortwave radiation",
        "standard_name": "toa_incoming_shortwave_flux",
        "units": "W m-2",
    },
    "s1_vv": {"long_name": "Sentinel-1 RTC gamma0 VV (annulus mean, linear)", "units": "1"},
    "s1_vh": {"long_name": "Sentinel-1 RTC gamma0 VH (annulus mean, linear)", "units": "1"},
    "s1_vv_db": {"long_name": "Sentinel-1 RTC gamma0 VV (annulus mean)", "units": "dB"},
    "s1_vh_db": {"long_name": "Sentinel-1 RTC gamma0 VH (annulus mean)", "units": "dB"},
    "s1_cr_db": {"long_name": "Sentinel-1 cross-ratio VH/VV", "units": "dB"},
    "s1_dprvi": {
        "long_name": "dual-pol radar vegetation index DpRVI for intensity data, q(q+3)/(q+1)^2, "
        "q = VH/VV",
        "units": "1",
    },
    "s1_rvi": {"long_name": "dual-pol radar vegetation index 4 VH/(VV+VH)", "units": "1"},
    "s1_valid_share": {"long_name": "share of valid annulus pixels", "units": "1"},
    "s2_clear_share": {"long_name": "share of clear footprint pixels", "units": "1"},
}

_LST = {
    "terra_day": "MODIS Terra daytime (about 10:30 local solar time)",
    "terra_night": "MODIS Terra night-time (about 22:30 local solar time)",
    "aqua_day": "MODIS Aqua daytime (about 13:30 local solar time)",
    "aqua_night": "MODIS Aqua night-time (about 01:30 local solar time)",
}


def status_attrs(product: str) -> dict[str, Any]:
    """CF flag attributes of ``<product>_status`` (``product`` e.g. ``"s2"``)."""
    return {
        "long_name": f"{product} per-date status (reason of a missing value)",
        "flag_values": list(STATUS.values()),
        "flag_meanings": " ".join(STATUS),
        "comment": "; ".join(f"{v} {k}: {_STATUS_TEXT[k]}" for k, v in STATUS.items()),
        "units": "1",
    }


def rs_attrs(name: str) -> dict[str, Any]:
    """``units`` and ``long_name`` (and ``standard_name`` where CF has one) of a variable.

    Parameters
    ----------
    name
        Canonical name: ``sw_clearsky``, ``s1_vv_db``, ``lst_terra_day``, ``s2_pc1``,
        ``s2_ndvi``, ``s2_b04``, ``<product>_status``, ...

    Returns
    -------
    dict
        Attributes ready for ``DataArray.attrs``.
    """
    if name in _FIXED:
        return dict(_FIXED[name])
    if name.endswith("_status"):
        return status_attrs(name[: -len("_status")])
    if name.startswith("lst_"):
        rest = name[4:]
        if rest.endswith("_n"):
            return {
                "long_name": f"number of good-quality pixels behind {name[:-2]}",
                "units": "1",
            }
        base, _, vza = rest.partition("_vza")
        if base in _LST:
            extra = f", angularly normalised to view zenith {vza} deg" if vza else ""
            return {
                "long_name": f"land surface temperature, {_LST[base]}{extra}",
                "standard_name": "surface_temperature",
                "units": "degC",
            }
    if name.startswith("s2_pc"):
        return {
            "long_name": f"principal component {name[5:]} of standardised Sentinel-2 indices",
            "units": "1",
        }
    if name.startswith("s2_b"):
        return {
            "long_name": f"Sentinel-2 band {name[3:].upper()} footprint-mean surface reflectance",
            "units": "1",
        }
    if name.startswith("s2_"):
        return {"long_name": f"Sentinel-2 spectral index {name[3:]} (footprint)", "units": "1"}
    if name.startswith("modis_"):
        return {"long_name": f"MODIS {name[6:]} (FluxnetEO tower cut-out mean)", "units": "1"}
    return {"long_name": name, "units": "1"}
