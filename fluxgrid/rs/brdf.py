"""RossThick-LiSparse-R BRDF kernels and the c-factor NBAR normalisation (Roy et al.).

The c-factor method (Roy et al. 2016, 2017) scales an observed surface reflectance to the
reflectance a nadir view would have seen under the same sun:

    rho_NBAR = c * rho_obs,   c = f(sza_n, 0, 0) / f(sza, vza, raa)
    f(sza, vza, raa) = f_iso + f_vol * K_vol(sza, vza, raa) + f_geo * K_geo(sza, vza, raa)

with ``K_vol`` the RossThick and ``K_geo`` the LiSparse-R (reciprocal) kernel (Wanner et al.
1995, Lucht et al. 2000; MODIS crown shape h/b = 2, b/r = 1) and the fixed, global spectral
BRDF coefficients of Roy et al. (2017) for Sentinel-2 MSI. By default the sun zenith of the
observation is kept (``sza_n = sza``), as in Roy et al.; a fixed one can be given.

References: Roy, D.P. et al. (2017) Remote Sens. Environ. 199, 25-38; Roy, D.P. et al.
(2016) Remote Sens. Environ. 176, 255-271; Lucht, W. et al. (2000) IEEE TGRS 38, 977-998.

Examples
--------
>>> round(float(c_factor("B04", sza=30.0, vza=0.0, raa=0.0)), 6)
1.0
>>> bool(c_factor("B08", sza=40.0, vza=10.0, raa=0.0) < 1.0)  # hot-spot side is brighter
True
"""

from __future__ import annotations

import numpy as np

__all__ = ["ROY2017", "brdf", "c_factor", "k_geo", "k_vol"]

#: Roy et al. (2017) Sentinel-2 MSI BRDF coefficients (f_iso, f_geo, f_vol) per band. B8A
#: takes the NIR (B08) values as in that paper; B01 and B09 have none (not normalised).
ROY2017: dict[str, tuple[float, float, float]] = {
    "B02": (0.0774, 0.0079, 0.0372),
    "B03": (0.1306, 0.0178, 0.0580),
    "B04": (0.1690, 0.0227, 0.0574),
    "B05": (0.2085, 0.0256, 0.0845),
    "B06": (0.2316, 0.0273, 0.1003),
    "B07": (0.2599, 0.0294, 0.1197),
    "B08": (0.3093, 0.0330, 0.1535),
    "B8A": (0.3093, 0.0330, 0.1535),
    "B11": (0.3430, 0.0453, 0.1154),
    "B12": (0.2658, 0.0387, 0.0639),
}


def _cos_phase(ts, tv, phi):
    return np.cos(ts) * np.cos(tv) + np.sin(ts) * np.sin(tv) * np.cos(phi)


def k_vol(sza, vza, raa):
    """RossThick volume-scattering kernel.

    Parameters
    ----------
    sza, vza, raa
        Sun zenith, view zenith and relative azimuth (view minus sun), degrees; arrays
        broadcast against each other.

    Returns
    -------
    numpy.ndarray
        ``((pi/2 - xi) cos xi + sin xi) / (cos sza + cos vza) - pi/4`` with ``xi`` the phase
        angle.
    """
    ts, tv, phi = (np.radians(np.asarray(a, dtype="float64")) for a in (sza, vza, raa))
    cos_xi = np.clip(_cos_phase(ts, tv, phi), -1.0, 1.0)
    xi = np.arccos(cos_xi)
    return ((np.pi / 2 - xi) * cos_xi + np.sin(xi)) / (np.cos(ts) + np.cos(tv)) - np.pi / 4


def k_geo(sza, vza, raa, *, hb: float = 2.0, br: float = 1.0):
    """LiSparse-R (reciprocal) geometric-optical kernel.

    Parameters
    ----------
    sza, vza, raa
        Sun zenith, view zenith, relative azimuth, degrees.
    hb, br
        Crown height-to-centre ratio h/b and shape b/r (MODIS: 2 and 1).

    Returns
    -------
    numpy.ndarray
        ``O - sec' sza - sec' vza + (1 + cos xi') sec' sza sec' vza / 2`` (primes: zenith
        angles transformed by ``tan' = b/r tan``).
    """
    ts, tv, phi = (np.radians(np.asarray(a, dtype="float64")) for a in (sza, vza, raa))
    ts_p = np.arctan(br * np.tan(ts))
    tv_p = np.arctan(br * np.tan(tv))
    sec_s, sec_v = 1.0 / np.cos(ts_p), 1.0 / np.cos(tv_p)
    tan_s, tan_v = np.tan(ts_p), np.tan(tv_p)
    d2 = tan_s**2 + tan_v**2 - 2.0 * tan_s * tan_v * np.cos(phi)
    cos_t = hb * np.sqrt(np.maximum(d2, 0.0) + (tan_s * tan_v * np.sin(phi)) ** 2) / (sec_s + sec_v)
    t = np.arccos(np.clip(cos_t, -1.0, 1.0))
    overlap = (t - np.sin(t) * np.cos(t)) * (sec_s + sec_v) / np.pi
    cos_xi_p = _cos_phase(ts_p, tv_p, phi)
    return overlap - sec_s - sec_v + 0.5 * (1.0 + cos_xi_p) * sec_s * sec_v


def brdf(band: str, sza, vza, raa):
    """Modelled reflectance ``f_iso + f_vol K_vol + f_geo K_geo`` of a Sentinel-2 band.

    Parameters
    ----------
    band
        Sentinel-2 band id (``"B02"`` ... ``"B12"``, see :data:`ROY2017`).
    sza, vza, raa
        Angles in degrees (broadcast).
    """
    try:
        f_iso, f_geo, f_vol = ROY2017[band]
    except KeyError:
        raise KeyError(
            f"no Roy et al. (2017) BRDF coefficients for band {band!r}; bands with "
            f"coefficients: {sorted(ROY2017)}"
        ) from None
    return f_iso + f_vol * k_vol(sza, vza, raa) + f_geo * k_geo(sza, vza, raa)


def c_factor(band: str, sza, vza, raa, *, sza_nbar=None):
    """c-factor that turns observed reflectance into NBAR: ``rho_nbar = c * rho_obs``.

    Parameters
    ----------
    band
        Sentinel-2 band id.
    sza, vza, raa
        Observation angles, degrees: sun zenith, view zenith, relative azimuth.
    sza_nbar
        Sun zenith of the normalised geometry; ``None`` keeps the observed ``sza``.

    Returns
    -------
    numpy.ndarray
        Dimensionless factor, shape of the broadcast angles.
    """
    sza_n = sza if sza_nbar is None else sza_nbar
    zeros = np.zeros_like(np.asarray(vza, dtype="float64"))
    return brdf(band, sza_n, zeros, zeros) / brdf(band, sza, vza, raa)
