"""report.html as the ops lead sees it: rendered by headless Chromium, offline, charts drawn.

Chromium is Debian's ``chromium`` package (``.ci/run`` installs it before ``make test``); on a
machine without it this test is skipped with a message saying so. The page is rendered from a
file with the network off; the screenshot is decoded here (a few lines of zlib, no imaging
library) and every chart must have painted its own colour.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from pipeline.report import build_report_data, render_report
from tests.test_report import sample_night, sample_review

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None and Path("/usr/bin/chromium").exists():
    CHROMIUM = "/usr/bin/chromium"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="chromium is not installed (Debian: apt-get install chromium; .ci/run installs "
        "it as root): report.html was not rendered in a browser",
    ),
]

WIDTH, HEIGHT = 1000, 8000  # CSS pixels; drawn at half scale to keep the decoding quick
SCALE = 0.5
# Each chart's own fill (pipeline.report's CSS), so a colour on the screenshot is that chart.
CHART_COLOURS = {
    "channels, capacity and collectors (phone)": (0x4E, 0x79, 0xA7),
    "visit work": (0xF2, 0x8E, 0x2B),
    "scores worked tonight": (0x2F, 0x5F, 0x8F),
    "scores of the book": (0xC6, 0xD7, 0xEA),
    "training deciles": (0xBA, 0xB0, 0xAC),
    "tonight's deciles": (0xAF, 0x7A, 0xA1),
    "rejected rows by rule": (0xB5, 0x54, 0x3C),
    "extensions worked": (0x76, 0xB7, 0xB2),
    "extensions held": (0xE1, 0x57, 0x59),
    "changes": (0xED, 0xC9, 0x48),
    "scorecards": (0x8C, 0xD1, 0x7D),
    "holds by reason": (0x9D, 0x76, 0x60),
}


def _chromium(*args: str, profile: Path) -> subprocess.CompletedProcess[bytes]:
    assert CHROMIUM is not None
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--force-color-profile=srgb",
        f"--user-data-dir={profile}",
        *args,
    ]
    return subprocess.run(command, capture_output=True, timeout=120, check=False)


def _pixels(png: bytes) -> npt.NDArray[np.uint8]:
    """The RGB pixels (height x width x 3) of an 8-bit, non-interlaced PNG."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, data, width, height, channels = 8, b"", 0, 0, 0
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind, body = png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and interlace == 0 and colour in (2, 6), (depth, colour, interlace)
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            data += body
    stride = width * channels
    raw = np.frombuffer(zlib.decompress(data), dtype=np.uint8).reshape(height, stride + 1)
    image = np.zeros((height, stride), dtype=np.int64)
    previous = np.zeros(stride, dtype=np.int64)
    for y in range(height):
        kind, line = int(raw[y, 0]), raw[y, 1:].astype(np.int64)
        if kind == 1:  # Sub: each byte adds the one a pixel to its left, a running sum
            row = np.cumsum(line.reshape(-1, channels), axis=0).reshape(-1) & 0xFF
        elif kind == 2:  # Up
            row = (line + previous) & 0xFF
        elif kind in (3, 4):  # Average, Paeth: left to right, one byte at a time
            row = _sequential(kind, line.tolist(), previous.tolist(), channels)
        else:
            row = line
        image[y] = row
        previous = row
    return image.reshape(height, width, channels)[:, :, :3].astype(np.uint8)


def _sequential(kind: int, line: list[int], up: list[int], channels: int) -> Any:
    out = [0] * len(line)
    for x, value in enumerate(line):
        left = out[x - channels] if x >= channels else 0
        if kind == 3:
            out[x] = (value + (left + up[x]) // 2) & 0xFF
            continue
        corner = up[x - channels] if x >= channels else 0
        p = left + up[x] - corner
        pa, pb, pc = abs(p - left), abs(p - up[x]), abs(p - corner)
        guess = left if pa <= pb and pa <= pc else up[x] if pb <= pc else corner
        out[x] = (value + guess) & 0xFF
    return np.asarray(out, dtype=np.int64)


def _count(image: npt.NDArray[np.uint8], colour: tuple[int, int, int]) -> int:
    return int(np.all(image == np.asarray(colour, dtype=np.uint8), axis=2).sum())


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    night, people, scores, bad, manifest = sample_night()
    data = build_report_data(
        manifest,
        night,
        people,
        scores,  # type: ignore[arg-type]
        bad,
        sample_review(),
    )
    path = tmp_path_factory.mktemp("report") / "report.html"
    path.write_text(render_report(data), encoding="utf-8")
    return path


def test_every_chart_is_drawn_by_a_browser_offline(page: Path, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    done = _chromium(
        f"--window-size={WIDTH},{HEIGHT}",
        f"--force-device-scale-factor={SCALE}",
        f"--screenshot={shot}",
        page.as_uri(),
        profile=tmp_path / "profile",
    )
    assert shot.exists(), done.stderr.decode(errors="replace")[-2000:]
    image = _pixels(shot.read_bytes())
    assert image.shape[:2] == (int(HEIGHT * SCALE), int(WIDTH * SCALE))
    missing = {
        chart: n
        for chart, colour in CHART_COLOURS.items()
        if (n := _count(image, colour)) < 20  # a bar of a few pixels at least
    }
    assert not missing, f"charts not painted (pixels of their colour): {missing}"
    # The page ends well inside the window: nothing was cut off below the last chart.
    assert (image[-1] == 0xFF).all(), "the page is taller than the screenshot"


def test_the_browser_keeps_every_svg_chart_in_the_dom(page: Path, tmp_path: Path) -> None:
    done = _chromium("--dump-dom", page.as_uri(), profile=tmp_path / "profile")
    dom = done.stdout.decode("utf-8")
    assert "<svg" in dom, done.stderr.decode(errors="replace")[-2000:]
    source = page.read_text(encoding="utf-8")
    assert dom.count("<svg") == source.count("<svg") >= 10
    assert dom.count("<rect") == source.count("<rect")
