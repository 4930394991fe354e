"""Browser tests: Debian's Chromium, headless, driven by Playwright against the live Django server
(pytest-django's live_server on the test database), with the built app, real DICOM from
../shared/data and the platform's own DICOMweb. Screenshots of every screen land in
tests/e2e/artifacts/ (CARDIOCROWD_E2E_ARTIFACTS to put them elsewhere)."""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from frontend.templatetags.vite import AppNotBuilt, load_manifest
from tests.conftest import REPOSITORY

# Playwright's sync API runs an event loop in the test's thread; the test's own ORM calls are still
# plain synchronous calls, so Django's async-context guard must not refuse them.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
CHROMIUM = os.environ.get("CARDIOCROWD_CHROMIUM", "/usr/bin/chromium")
# Headless with WebGL2 through SwiftShader (Cornerstone3D's GPU path); no network beyond loopback.
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                  "--disable-background-networking", "--disable-component-update"]
ARTIFACTS = Path(os.environ.get("CARDIOCROWD_E2E_ARTIFACTS", REPOSITORY / "tests" / "e2e" / "artifacts"))
VIEWPORT = {"width": 1366, "height": 768}  # the smallest screen the app is made for


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    if call.when == "call":
        item.failed_call = outcome.get_result().failed  # browser_for screenshots every page of a failed test


@pytest.fixture(scope="session")
def built_app() -> dict:
    try:
        return load_manifest()
    except AppNotBuilt as error:
        pytest.fail(f"{error} (scripts/test builds it)")


@pytest.fixture(scope="session")
def playwright_instance():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).is_file():
        pytest.fail(f"Chromium not found at {CHROMIUM} (scripts/test installs Debian's chromium)")
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def browser_for(playwright_instance, live_server, built_app, artifacts, request):
    """browser_for(name) → a signed-out page in a fresh Chromium profile of its own (one per person),
    at 1366×768; console errors are collected on page.errors."""
    contexts, profiles, pages = [], [], {}

    def open_browser(name: str):
        profile = tempfile.mkdtemp(prefix=f"chromium-{name}-")
        profiles.append(profile)
        context = playwright_instance.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS, viewport=VIEWPORT)
        contexts.append(context)
        page = context.pages[0] if context.pages else context.new_page()
        page.set_default_timeout(30_000)
        page.errors = []
        page.on("pageerror", lambda error: page.errors.append(str(error)))
        page.base_url = live_server.url
        pages[name] = page
        return page

    yield open_browser
    if getattr(request.node, "failed_call", False):
        for name, page in pages.items():
            page.screenshot(path=str(artifacts / f"FAILED-{request.node.name}-{name}.png"))
    for context in contexts:
        context.close()
    for profile in profiles:
        shutil.rmtree(profile, ignore_errors=True)


def sign_in(page, username: str, password: str = "pw") -> None:
    page.goto(f"{page.base_url}/accounts/login/?next=/app/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url("**/app/")


def screenshot(page, name: str) -> Path:
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


MEASURED: dict[str, dict] = {}


def record_figures(name: str, figures: dict) -> None:
    """Keep measured figures with the artifacts (figures.json); the run's summary prints them."""
    MEASURED[name] = figures
    path = ARTIFACTS / "figures.json"
    known = json.loads(path.read_text()) if path.exists() else {}
    known[name] = figures
    path.write_text(json.dumps(known, indent=2))


def pytest_terminal_summary(terminalreporter):
    if MEASURED:
        terminalreporter.section("browser figures")
        for name, figures in MEASURED.items():
            terminalreporter.write_line(f"{name}: {json.dumps(figures)}")
