"""The HTML report in a real browser (issue 5): headless Chromium opens the
file offline, must log nothing to the console (no script error, no
Content-Security-Policy violation, no blocked fetch), must run the report's
one script, and must show the findings table and both SVG pictures in its
DOM. A screenshot is written next to each report (pytest keeps the last
runs' tmp_path folders) so a person can look.

Needs Debian's ``chromium`` package; skipped with the reason otherwise."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from auditor.report import html

from .conftest import make_scenario

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium)")

FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-extensions", "--disable-default-apps", "--mute-audio", "--hide-scrollbars",
]


def _chromium(page: Path, profile: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *extra, page.as_uri()],
        capture_output=True, text=True, timeout=120, check=False,
    )


def _console(stderr: str) -> list[str]:
    """Every console message (the report logs none, so each is a defect),
    uncaught error or policy violation Chromium reported."""
    return [line for line in stderr.splitlines()
            if ":CONSOLE" in line or "Uncaught" in line or "Content Security Policy" in line]


def open_in_browser(report_html: str, folder: Path, name: str = "report") -> str:
    """Write the report, load it in Chromium, fail on any console message,
    write the screenshot beside it; return the DOM after load."""
    folder.mkdir(parents=True, exist_ok=True)
    page = folder / f"{name}.html"
    page.write_text(report_html, encoding="utf-8")
    shot = folder / f"{name}.png"
    run = _chromium(page, folder / "profile", "--enable-logging=stderr", "--v=0", "--dump-dom",
                    f"--screenshot={shot}", "--window-size=1400,2400")
    assert run.returncode == 0, run.stderr[-2000:]
    assert _console(run.stderr) == []
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return run.stdout


def _check_dom(dom: str) -> None:
    # The script ran under the CSP (it marks <html>), the findings table and
    # both pictures are in the live DOM.
    assert re.search(r'<html[^>]*data-script="ran"', dom), dom[:300]
    assert 'id="findings-table"' in dom
    assert re.search(r'<svg[^>]*class="deployment"', dom)
    assert re.search(r'<svg[^>]*class="traffic"', dom)


def test_realistic_report_in_chromium(tmp_path):
    sc = make_scenario()
    doc = html.render(sc.report, inventory=sc.inventory, rules=sc.rules, activity=sc.activity,
                      fail_on="high")
    dom = open_in_browser(doc, tmp_path)
    _check_dom(dom)
    assert "FAIL" in dom and "vra-data" in dom
    assert (tmp_path / "report.png").stat().st_size > 50_000


def test_hostile_names_stay_text_in_chromium(tmp_path):
    sc = make_scenario(vras_per_site=8, evil=True)
    doc = html.render(sc.report, inventory=sc.inventory, rules=sc.rules, activity=sc.activity)
    dom = open_in_browser(doc, tmp_path, "hostile")
    _check_dom(dom)
    # Serialised back by the browser, the host name is still escaped text:
    # no element was made from it (an executed or blocked script would also
    # have been caught as a console message above).
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom
    assert dom.count("<script") == 1
    assert "<img" not in dom


def test_a_detector_that_can_fail(tmp_path):
    # The console check is real: a page with a script error and one with a
    # script the CSP refuses are both caught.
    bad = tmp_path / "bad.html"
    bad.write_text("<!DOCTYPE html><p>x</p><script>nosuchfunction();</script>")
    run = _chromium(bad, tmp_path / "profile", "--enable-logging=stderr", "--v=0", "--dump-dom")
    assert any("Uncaught ReferenceError" in line for line in _console(run.stderr))
    csp = tmp_path / "csp.html"
    csp.write_text("<!DOCTYPE html><meta http-equiv=\"Content-Security-Policy\" "
                   "content=\"script-src 'sha256-AAAA'\"><script>var a = 1;</script>")
    run = _chromium(csp, tmp_path / "profile", "--enable-logging=stderr", "--v=0", "--dump-dom")
    assert _console(run.stderr)


def test_demo_report_in_chromium(tmp_path):
    pipeline = pytest.importorskip("auditor.pipeline")
    from auditor.resources import captures_dir

    if not (captures_dir() / "demo.pcapng").exists():
        pytest.skip(f"the bundled demo capture is not there yet ({captures_dir() / 'demo.pcapng'})")
    try:
        _, written = pipeline.demo(tmp_path)
    except (ImportError, AttributeError) as e:  # a stage not merged yet
        pytest.skip(f"the demo pipeline is not complete yet: {e}")
    page = next(p for p in written if p.suffix == ".html")
    dom = open_in_browser(page.read_text(encoding="utf-8"), tmp_path, "demo")
    _check_dom(dom)
