"""Parsing shared by the benchmark summarisers (run as ``python -m bench.<name>.summarise``)."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any


def key_value(text: str) -> tuple[str, str]:
    """argparse type for ``KEY=VALUE``."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def typed(value: str) -> Any:
    """``"42"`` -> 42, ``"1.5"`` -> 1.5, anything else (``"1e5"``, a commit hash) stays a string."""
    if re.fullmatch(r"-?\d+", value):
        return int(value)
    if re.fullmatch(r"-?\d+\.\d+", value):
        return float(value)
    return value


def marker(path: Path, name: str) -> dict[str, Any]:
    """The JSON after the first ``NAME `` line of a wrk output (bench/common/wrk_report.lua)."""
    prefix = name + " "
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith(prefix):
            return json.loads(line[len(prefix) :])
    raise SystemExit(f"summarise: no {name} line in {path} (did wrk fail?)")
