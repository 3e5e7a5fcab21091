"""Browser fixtures: a real uvicorn server per test and Debian's Chromium driven by Playwright.

The server is a separate process (`python -m uvicorn --factory forum.app:app_from_env`) on a free
port, pointed at the same test database as the `db` fixture. It starts after `db` has emptied the
tables, so the secret key it caches at startup is the one stored for this test; it is stopped at the
end of the test. Chromium is launched once per worker; every simulated person gets their own browser
context (own cookies). A missing Chromium skips these tests locally and fails them under CI=true.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import PASSWORD
from tests.server import stop

REPO_ROOT = Path(__file__).resolve().parents[2]
IN_CI = os.environ.get("CI", "").lower() == "true"
CHROMIUM = os.environ.get("FORUM_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
STARTUP_TIMEOUT = 30.0
# Playwright's default of 30 s hides hangs; pages here answer in milliseconds.
ACTION_TIMEOUT_MS = 10_000


def _unavailable(reason: str):
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: browser tests are required)")
    pytest.skip(reason)


# --- the server -------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server_env(database_url: str, base_url: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    # Start from the parent environment without any FORUM_* setting a developer may have exported.
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORUM_")}
    env.update({
        "FORUM_DATABASE_URL": database_url,
        "FORUM_BASE_URL": base_url,
        "FORUM_POSTS_PER_MINUTE": "1000",
        "FORUM_TOPICS_PER_HOUR": "1000",
        "FORUM_LOGIN_ATTEMPTS_PER_IP": "1000",
        "FORUM_LOGIN_ATTEMPTS_PER_ACCOUNT": "1000",
        "FORUM_SIGNUPS_PER_IP_PER_HOUR": "1000",
        "PYTHONPATH": os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH")) if p),
        "PYTHONUNBUFFERED": "1",
        **(extra or {}),
    })
    return env


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False


def _start_server(database_url: str, workdir: Path, extra: dict[str, str] | None = None,
                  ) -> tuple[subprocess.Popen, str, Path]:
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    log_path = workdir / f"uvicorn-{port}.log"
    with open(log_path, "wb") as log:
        # cwd is a scratch directory so that a developer's .env in the checkout cannot leak in.
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "forum.app:app_from_env",
             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
            env=_server_env(database_url, base_url, extra), cwd=workdir, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        if _answers(base_url + "/latest"):
            return process, base_url, log_path
        time.sleep(0.1)
    stop(process)
    raise RuntimeError(f"uvicorn on port {port} did not start (exit code {process.returncode}):\n"
                       + log_path.read_text(errors="replace")[-4000:])


@pytest.fixture
def live_server(db, database_url, tmp_path, request) -> Iterator[str]:
    """Base URL of a real forum server on the test database; `db` has emptied the tables first.
    A test marked `@pytest.mark.server_env(FORUM_X="…")` starts it with those settings."""
    workdir = tmp_path / "server"
    workdir.mkdir()
    marker = request.node.get_closest_marker("server_env")
    extra = dict(marker.kwargs) if marker else None
    last_error: Exception | None = None
    for _attempt in range(3):  # another process may grab the free port before uvicorn binds it
        try:
            process, base_url, log_path = _start_server(database_url, workdir, extra)
            break
        except RuntimeError as e:
            last_error = e
    else:
        pytest.fail(str(last_error))
    try:
        yield base_url
    finally:
        stop(process)
        # Server errors explain browser failures: show them in the test report.
        output = log_path.read_text(errors="replace")
        if "Traceback" in output:
            print(f"--- uvicorn log ({log_path}) ---\n{output[-8000:]}")


# --- the browser ------------------------------------------------------------------------------

def _chromium_path() -> str | None:
    if Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    return None


def require_playwright() -> None:
    """Skips (fails under CI=true) a test module when the playwright package is missing."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        reason = "the playwright Python package is not installed (pip install -e '.[test]')"
        if IN_CI:
            pytest.fail(f"{reason} (CI=true: browser tests are required)", pytrace=False)
        pytest.skip(reason, allow_module_level=True)


@pytest.fixture(scope="session")
def chromium():
    path = _chromium_path()
    if path is None:
        _unavailable(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium; "
                     "or set FORUM_TEST_CHROMIUM)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def new_page(chromium, live_server) -> Iterator[Callable[..., object]]:
    """Opens a page in a fresh browser context: one context per person, each with its own cookies."""
    contexts = []

    def make(*, javascript: bool = True, favicon: bool = True):
        context = chromium.new_context(base_url=live_server, java_script_enabled=javascript,
                                       locale="en-GB", timezone_id="UTC")
        context.set_default_timeout(ACTION_TIMEOUT_MS)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page):
    return new_page()


# --- helpers for the journeys (imported by the tests) -----------------------------------------

def log_in(page, username: str, password: str = PASSWORD) -> None:
    """Logs in through the /login form and checks the header then shows the account."""
    from playwright.sync_api import expect

    page.goto("/login")
    page.fill("input[name=login]", username)
    page.fill("input[name=password]", password)
    with page.expect_navigation():
        page.locator("form[action='/login'] button[type=submit]").click()
    expect(page.locator("header.site-header a.me")).to_have_text(username)
