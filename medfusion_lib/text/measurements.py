"""Measurements with units that express a symptom: "temp 38.5", "T 101.4F", "lost 6 kg", "SpO2 88%".

A measured temperature of 38.0 °C (100.4 °F) or more is a fever; a stated weight change is weight loss
or gain. Oxygen saturation, heart rate and respiratory rate are recognised as measurements too, but map to
no symptom in the lexicon (hypoxaemia and tachycardia are signs, not symptoms a patient reports), so they
carry ``concept_id = None``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from medfusion_lib.text.preprocess import check_text

FEVER_THRESHOLD_C = 38.0
FEVER_ID, WEIGHT_LOSS_ID, WEIGHT_GAIN_ID = "HP:0001945", "HP:0001824", "HP:0004324"


@dataclass(frozen=True)
class Measurement:
    """A number with a unit found in text. ``value`` is in ``unit`` after conversion (°C, kg, %, /min)."""

    kind: str             # "temperature", "weight_change", "spo2", "heart_rate", "resp_rate"
    value: float
    unit: str
    start: int
    end: int
    text: str
    concept_id: str | None  # the symptom it expresses, when it expresses one
    abnormal: bool


_NUMBER = r"(\d{1,3}(?:[.,]\d{1,2})?)"
_TEMPERATURE = re.compile(
    r"\b(?:temp(?:erature)?s?(?:\s?max)?|t\s?max|T)\b\.?\s*(?:of|was|is|up to|to|at|reached|:|=)?\s*(?:of\s*)?"
    + _NUMBER + r"\s*(?:°|º|deg(?:rees?)?)?\s*([CF])?\b"
    r"|\b" + _NUMBER + r"\s*(?:°\s*|º\s*|deg(?:rees?)?\s*)([CF])\b", re.IGNORECASE)
_WEIGHT = re.compile(
    r"\b(lost|losing|loss of|down|dropped|dropping|gained|gaining|put on|up)\s+"
    r"(?:about\s+|around\s+|nearly\s+|almost\s+|over\s+|roughly\s+|~\s*)?" + _NUMBER
    + r"\s*(kg|kgs|kilos?|kilograms?|lbs?|pounds?|stones?|st)\b", re.IGNORECASE)
_SPO2 = re.compile(r"\b(?:SpO2|SaO2|O2 sats?|O2 saturation|sats?|oxygen saturation|pulse ox)\s*"
                   r"(?:of|was|is|:|=)?\s*(\d{2,3})\s*%", re.IGNORECASE)
_HEART_RATE = re.compile(r"\b(?:HR|heart rate|pulse)\s*(?:of|was|is|:|=)?\s*(\d{2,3})\b(?:\s*(?:bpm|/min))?",
                         re.IGNORECASE)
_RESP_RATE = re.compile(r"\b(?:RR|resp(?:iratory)? rate)\s*(?:of|was|is|:|=)?\s*(\d{1,2})\b(?:\s*/min)?",
                        re.IGNORECASE)
_TO_KG = {"kg": 1.0, "kgs": 1.0, "kilo": 1.0, "kilos": 1.0, "kilogram": 1.0, "kilograms": 1.0,
          "lb": 0.4536, "lbs": 0.4536, "pound": 0.4536, "pounds": 0.4536, "stone": 6.35, "stones": 6.35,
          "st": 6.35}


def _float(text: str) -> float:
    return float(text.replace(",", "."))


def find_measurements(text: str) -> list[Measurement]:
    """Every temperature, weight change, SpO2, heart rate and respiratory rate in ``text``, by position."""
    check_text(text)
    found: list[Measurement] = []
    for m in _TEMPERATURE.finditer(text):
        number, unit = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
        value = _float(number)
        fahrenheit = (unit or "").upper() == "F" or (unit is None and 90 <= value <= 110)
        celsius = (value - 32) * 5 / 9 if fahrenheit else value
        if not 30 <= celsius <= 45:  # "T 2" (a stage), "temp 12" — not a body temperature
            continue
        fever = celsius >= FEVER_THRESHOLD_C
        found.append(Measurement("temperature", round(celsius, 2), "C", m.start(), m.end(), m.group(0),
                                 FEVER_ID if fever else None, fever))
    for m in _WEIGHT.finditer(text):
        verb, kg = m.group(1).lower(), _float(m.group(2)) * _TO_KG[m.group(3).lower()]
        losing = verb in {"lost", "losing", "loss of", "down", "dropped", "dropping"}
        found.append(Measurement("weight_change", round(-kg if losing else kg, 2), "kg", m.start(), m.end(),
                                 m.group(0), WEIGHT_LOSS_ID if losing else WEIGHT_GAIN_ID, True))
    for kind, pattern, unit, low, high in (("spo2", _SPO2, "%", 94, 100), ("heart_rate", _HEART_RATE, "/min", 50, 100),
                                          ("resp_rate", _RESP_RATE, "/min", 10, 20)):
        for m in pattern.finditer(text):
            value = float(m.group(1))
            found.append(Measurement(kind, value, unit, m.start(), m.end(), m.group(0), None,
                                     not low <= value <= high))
    return sorted(found, key=lambda x: x.start)
