"""Procedural chest radiographs: anatomy, findings by diagnosis, and each site's acquisition quirks.

A frontal (PA) film is drawn on a coordinate grid x, y in [-1, 1] (y grows downwards; the patient's
right lung is on the image's left, as on a real film). Bright = dense (bone, soft tissue, fluid);
dark = air (lungs). Findings follow the textbook picture of each diagnosis:

* bacterial pneumonia — lobar consolidation: one dense, fairly sharp-edged region in one lobe;
* viral pneumonia — bilateral interstitial / ground-glass haze, lower and peripheral;
* heart failure — an enlarged heart (cardiothoracic ratio > 0.5), pleural effusion blunting the
  costophrenic angle(s), perihilar haze;
* tuberculosis — upper-lobe nodules, sometimes a cavity (a bright ring around a dark centre);
* URI and acute bronchitis — a normal film, with natural variation only.

Every finding has a random severity, and some are subtle — as on real films, not every case shows.
The site then applies its exposure (gamma), blur, noise, rotation and a burned-in marker in its own
corner (a shortcut a CNN can learn: lesson material for site shift and fairness).

Because the generator knows where it drew each finding, :func:`render_film` also returns a **finding
mask** (size, size) uint8: bit ``k`` is set where finding ``FINDINGS[k]`` was drawn (its shape above
``MASK_LEVEL`` of its own peak, before blur and noise, rotated with the film). Normal films have an
empty mask. Explanations are scored against these masks (lesson 13). ``draw_findings=False`` renders
the same film from the same random draws without its findings: the patient's counterfactual healthy film.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from medfusion_lib.data.diagnoses import Site

#: How often a diseased film shows its finding only faintly (severity drawn near zero).
SUBTLE_RATE = 0.18
#: The findings a mask records; bit k of a mask pixel is FINDINGS[k]. Viral pneumonia's diffuse haze and
#: heart failure's perihilar haze are recorded as "interstitial_haze".
FINDINGS = ("consolidation", "nodules_cavity", "effusion", "enlarged_heart", "interstitial_haze")
#: A pixel belongs to a finding where the finding's shape reaches this fraction of its own peak.
MASK_LEVEL = 0.25


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    axis = (np.arange(size) + 0.5) / size * 2 - 1
    return np.meshgrid(axis, axis)  # x (columns), y (rows)


def _ellipse(x, y, cx, cy, rx, ry) -> np.ndarray:
    """Soft-edged filled ellipse, values in [0, 1]."""
    d = ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2
    return np.clip((1.0 - d) * 6.0, 0.0, 1.0)


def _blob(x, y, cx, cy, r) -> np.ndarray:
    return np.exp(-(((x - cx) ** 2 + (y - cy) ** 2) / (2 * r * r)))


def _smooth_noise(rng: np.random.Generator, size: int, sigma: float) -> np.ndarray:
    field = ndimage.gaussian_filter(rng.standard_normal((size, size)), sigma * size / 64)
    return field / (field.std() + 1e-8)


def _severity(rng: np.random.Generator) -> float:
    return float(rng.uniform(0.05, 0.3) if rng.random() < SUBTLE_RATE else rng.uniform(0.55, 1.0))


def render_radiograph(diagnosis: str, site: Site, rng: np.random.Generator, size: int = 64,
                      sex: str = "M", age: float = 50.0) -> np.ndarray:
    """One film, (size, size) uint8 (see :func:`render_film` for the film with its finding mask)."""
    return render_film(diagnosis, site, rng, size, sex=sex, age=age)[0]


def _outline(shape: np.ndarray) -> np.ndarray:
    """(size, size) bool: where a finding's non-negative shape reaches MASK_LEVEL of its peak."""
    peak = float(shape.max())
    return shape > MASK_LEVEL * peak if peak > 0 else np.zeros(shape.shape, dtype=bool)


def render_film(diagnosis: str, site: Site, rng: np.random.Generator, size: int = 64, sex: str = "M",
                age: float = 50.0, draw_findings: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """One film and its finding mask: ((size, size) uint8 image, (size, size) uint8 bit mask of FINDINGS).

    The random draws are the same whatever ``draw_findings`` says, so ``draw_findings=False`` gives the
    same patient's film without the findings (and an empty mask).
    """
    x, y = _grid(size)
    # patient variation: position, lung size, body habitus
    dx, dy = rng.normal(0, 0.03, 2)
    x, y = x - dx, y - dy
    lung_h = rng.uniform(0.5, 0.6)
    lung_w = rng.uniform(0.26, 0.31)
    habitus = rng.uniform(0.35, 0.5)

    body = _ellipse(x, y, 0, 0.1, 0.98, 1.25)
    img = 0.06 + habitus * body

    # lungs, cut at the diaphragm domes (right dome a little higher, as on real films)
    dome_r = 0.42 + rng.normal(0, 0.03) + 1.3 * (x + 0.37) ** 2
    dome_l = 0.47 + rng.normal(0, 0.03) + 1.3 * (x - 0.37) ** 2
    right = _ellipse(x, y, -0.37, 0.02, lung_w, lung_h + 0.05) * np.clip((dome_r - y) * 30, 0, 1)
    left = _ellipse(x, y, 0.37, 0.04, lung_w, lung_h + 0.05) * np.clip((dome_l - y) * 30, 0, 1)
    lungs = np.clip(right + left, 0, 1)
    img = img - 0.33 * lungs

    # ribs: curved bands across the lungs; clavicles above
    phase = rng.uniform(0, 1)
    ribs = np.cos(2 * np.pi * ((y + 0.35 * x * x) / 0.17 + phase)) > 0.55
    img = img + 0.07 * ribs * lungs
    for side in (-1, 1):
        clav = np.exp(-((y - (-0.55 + 0.12 * (side * x - 0.05))) ** 2) / 0.0012) * (side * x > 0.03) * (side * x < 0.6)
        img = img + 0.22 * clav

    # mediastinum, spine and heart (the heart sits slightly to the image's right)
    img = img + 0.25 * _ellipse(x, y, 0.0, -0.2, 0.1, 0.5)
    ctr = rng.normal(0.44, 0.03)  # cardiothoracic ratio
    findings = np.zeros_like(img)
    layers = {name: np.zeros(img.shape, dtype=bool) for name in FINDINGS}  # where each finding was drawn
    enlarged_ctr = None

    if diagnosis == "heart_failure":
        severity = _severity(rng)
        enlarged_ctr = 0.5 + 0.15 * severity + rng.normal(0, 0.02)
        # pleural effusion: fluid fills the lowest lung with a meniscus
        for cx, dome, lung in ((-0.37, dome_r, right), (0.37, dome_l, left)):
            if rng.random() < 0.35 + 0.5 * severity:
                level = dome - (0.08 + 0.22 * severity) + 0.15 * (x - cx) ** 2 * np.sign(cx) * np.sign(x - cx)
                findings += 0.3 * lung * np.clip((y - level) * 25, 0, 1)
                layers["effusion"] |= _outline(lung * np.clip((y - level) * 25, 0, 1))
        # perihilar haze ("bat wing")
        bat_wing = _blob(x, y, -0.2, 0.0, 0.16) + _blob(x, y, 0.2, 0.0, 0.16)
        findings += 0.12 * severity * lungs * bat_wing
        layers["interstitial_haze"] |= _outline(lungs * bat_wing)
    elif diagnosis == "bacterial_pneumonia":
        severity = _severity(rng)
        side = rng.choice([-1, 1])
        lung = right if side < 0 else left
        cy = rng.choice([0.25, 0.3, -0.1]) + rng.normal(0, 0.05)
        r = rng.uniform(0.12, 0.2)
        patch = np.clip((_blob(x, y, side * 0.4 + rng.normal(0, 0.05), cy, r) - 0.35) * 3, 0, 1)
        findings += (0.25 + 0.2 * severity) * severity * patch * lung
        layers["consolidation"] |= _outline(patch * lung)
    elif diagnosis == "viral_pneumonia":
        severity = _severity(rng)
        texture = _smooth_noise(rng, size, 1.2)
        lower_peripheral = np.clip(0.4 + y * 0.8, 0, 1) * np.clip(np.abs(x) * 1.6, 0, 1)
        haze = np.clip(0.6 + 0.4 * texture, 0, 1.5) * lower_peripheral
        findings += 0.22 * severity * haze * lungs
        layers["interstitial_haze"] |= _outline(haze * lungs)
    elif diagnosis == "tuberculosis":
        severity = _severity(rng)
        side = rng.choice([-1, 1])
        lung = right if side < 0 else left
        for _ in range(int(rng.integers(2, 6))):
            nx, ny = side * rng.uniform(0.25, 0.5), rng.uniform(-0.5, -0.25)
            nodule = _blob(x, y, nx, ny, rng.uniform(0.025, 0.045))
            findings += 0.3 * severity * nodule * lung
            layers["nodules_cavity"] |= _outline(nodule * lung)
        if rng.random() < 0.5:
            cx, cy, rad = side * 0.38, rng.uniform(-0.45, -0.3), rng.uniform(0.07, 0.1)
            d = np.sqrt((x - cx) ** 2 + (y - cy) ** 2)
            ring = np.exp(-((d - rad) ** 2) / 0.0006)
            findings += (0.35 * ring - 0.08 * (d < rad * 0.7)) * severity * lung
            layers["nodules_cavity"] |= _outline(ring * lung) | ((d < rad) & (lung > MASK_LEVEL))
        apical = _blob(x, y, side * 0.38, -0.38, 0.14)  # the faint infiltrate around them
        findings += 0.08 * severity * apical * lung
        layers["nodules_cavity"] |= _outline(apical * lung)

    # heart width / thoracic width = ctr; the thorax spans about 1.3 in grid units
    if draw_findings and enlarged_ctr is not None:
        ctr = enlarged_ctr
    heart = _ellipse(x, y, 0.08, 0.24, ctr * 0.65, 0.23) * (y < 0.5)
    img = img + 0.26 * heart
    if enlarged_ctr is not None and ctr > 0.5:
        layers["enlarged_heart"] |= _outline(heart)
    if sex == "F":  # breast shadows raise the density of the lower zones
        img = img + 0.06 * (_ellipse(x, y, -0.45, 0.45, 0.32, 0.22) + _ellipse(x, y, 0.45, 0.45, 0.32, 0.22))
    img = img + draw_findings * findings + 0.015 * _smooth_noise(rng, size, 2.0) * lungs

    # acquisition at this site
    angle = rng.normal(0, site.rotation_deg)
    img = ndimage.rotate(img, angle, reshape=False, order=1, mode="nearest")
    img = ndimage.gaussian_filter(img, site.blur * size / 64) if site.blur > 0 else img
    img = np.clip(img, 0, 1) ** site.exposure
    img = img + rng.normal(0, site.noise, img.shape)
    draw_marker(img, site.marker, size)
    mask = np.zeros(img.shape, dtype=np.uint8)
    if draw_findings:
        for bit, name in enumerate(FINDINGS):
            if layers[name].any():  # the mask turns with the film (the marker is burned in upright)
                turned = ndimage.rotate(layers[name].astype(float), angle, reshape=False, order=1,
                                        mode="constant", cval=0.0) > 0.5
                mask |= (turned.astype(np.uint8) << bit)
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8), mask


def draw_marker(img: np.ndarray, corner: str, size: int) -> None:
    """Draw, in place, a bright "L"-shaped side marker in the site's corner (``"tl"``, ``"tr"``, ``"bl"``,
    ``"br"``) of ``img`` (``(size, size)`` float in [0, 1]), as technologists place on films. Public: the
    hospitals track draws the same marker (hospitals.markers.burn_marker) to show a shortcut."""
    m = max(2, size // 16)
    pad = max(1, size // 32)
    r0 = pad if corner[0] == "t" else size - pad - m
    c0 = pad if corner[1] == "l" else size - pad - m
    thick = max(1, m // 3)
    img[r0:r0 + m, c0:c0 + thick] = 0.95
    img[r0 + m - thick:r0 + m, c0:c0 + m] = 0.95
