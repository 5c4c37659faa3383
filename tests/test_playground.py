"""The learning-rate slider page: self-contained, and the slider really redraws the path.

The page is opened in headless Chromium (Debian's `chromium` package; .ci/run installs it when it
can). Query parameters set the controls the way a user does (the value, then the control's own
input/change event); the page writes what it drew into a hidden <pre id="probe">, and Chromium's
--dump-dom hands the final DOM back.
"""

import json
import re
import shutil
import subprocess

import pytest

pytest.importorskip("gdcore.minimize", reason="the playground's paths come from gdcore.minimize")

from gdcore.playground import build_playground, write_playground  # noqa: E402


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    path = tmp_path_factory.mktemp("playground") / "page.html"
    write_playground(path, "rosenbrock", n_rates=9, steps=120, grid=60)
    return path


def test_page_is_self_contained(page):
    html = page.read_text(encoding="utf-8")
    assert "<script" in html and 'type="range"' in html and "<select" in html
    # no network: nothing is fetched from elsewhere
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "http://" not in html and "https://" not in html
    assert len(html) < 2_000_000


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _probe(browser, page, query):
    out = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom",
         f"{page.as_uri()}?{query}"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    match = re.search(r'<pre id="probe">(.*?)</pre>', out.stdout, re.S)
    assert match, f"no probe in the page Chromium rendered: {out.stderr[-500:]}"
    return json.loads(match.group(1))


def test_moving_the_slider_redraws_the_path(page):
    browser = _chromium()
    if browser is None:
        pytest.skip("headless Chromium is not installed (Debian package 'chromium'); .ci/run "
                    "installs it where apt-get can")  # fmt: skip
    slow = _probe(browser, page, "optimizer=sgd&lr=0")
    fast = _probe(browser, page, "optimizer=sgd&lr=6")
    other = _probe(browser, page, "optimizer=adam&lr=6")
    assert slow["lr"] < fast["lr"]
    assert slow["last"] != fast["last"]  # another path ...
    assert slow["checksum"] != fast["checksum"]  # ... really drawn on the canvas
    assert other["optimizer"] == "adam" and other["last"] != fast["last"]


def test_bad_arguments():
    with pytest.raises(ValueError, match="function must be one of"):
        build_playground("banana")
    with pytest.raises(ValueError, match="n_rates must be >= 2"):
        build_playground("rosenbrock", n_rates=1)
