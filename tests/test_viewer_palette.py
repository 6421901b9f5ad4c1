"""The incident palette stays readable with colour-vision deficiency: each pair of categories
differs under simulated protanopia, deuteranopia and tritanopia (Machado, Oliveira and
Fernandes 2009, severity 1), measured as CIELAB distance (CIE76)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from service.viewer.styles import INCIDENT_COLOURS

#: Machado et al. (2009) simulation matrices at full severity, on linear RGB.
SIMULATIONS = {
    "normal": np.eye(3),
    "protanopia": np.array(
        [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216],
         [-0.003882, -0.048116, 1.051998]]
    ),
    "deuteranopia": np.array(
        [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413],
         [-0.011820, 0.042940, 0.968881]]
    ),
    "tritanopia": np.array(
        [[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602],
         [0.004733, 0.691367, 0.303900]]
    ),
}  # fmt: skip
#: Pairs analysts confused before the palette changed: they must stand well apart.
CONFUSED = [("armed_clash", "attack_on_civilians"), ("abduction", "attack_on_humanitarians")]


def lab(hex_colour: str, simulation: np.ndarray) -> np.ndarray:
    rgb = np.array([int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)])
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    linear = np.clip(simulation @ linear, 0, 1)
    xyz = (
        np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
        @ linear
    )
    xyz = xyz / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 216 / 24389, np.cbrt(xyz), (24389 / 27 * xyz + 16) / 116)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def distance(a: str, b: str, simulation: str) -> float:
    matrix = SIMULATIONS[simulation]
    return float(np.linalg.norm(lab(a, matrix) - lab(b, matrix)))


@pytest.mark.parametrize("simulation", list(SIMULATIONS))
def test_every_pair_of_categories_stays_apart(simulation: str) -> None:
    colours = {str(k): v for k, v in INCIDENT_COLOURS.items()}
    closest = min(
        (distance(colours[a], colours[b], simulation), a, b)
        for a, b in itertools.combinations(colours, 2)
    )
    assert closest[0] >= 12, closest
    for a, b in CONFUSED:
        assert distance(colours[a], colours[b], simulation) >= 60, (a, b, simulation)
