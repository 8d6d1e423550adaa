"""Selenium (WebDriver) with fidosim as the USB security key: sign up and
sign in with a passkey on the demo site (../app.py), and check through the
key's own events that it made and used exactly that credential. See
docs/recipes/selenium.md.

The key must be running (`fidosim run`) with its control socket at
$FIDOSIM_CONTROL_SOCKET (or the default). Every test starts from a reset
key. The browsers are the system's own, with their drivers named in the
environment (defaults: Debian's paths):

  BROWSERS=chromium,firefox
  CHROMIUM=/usr/bin/chromium   CHROMEDRIVER=/usr/bin/chromedriver
  FIREFOX=/usr/bin/firefox-esr GECKODRIVER=geckodriver (on PATH)
  APP_PORT=8001
  CHROMEDRIVER_LOG=path   chromedriver's verbose log and Chromium's output

Run: python -m pytest -v tests/rigs/selenium
"""

import os
import shutil
import subprocess
import sys
import time
import urllib.request

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.firefox.remote_connection import FirefoxRemoteConnection
from selenium.webdriver.remote.client_config import ClientConfig
from selenium.webdriver.remote.webdriver import WebDriver as RemoteWebDriver
from selenium.webdriver.support.ui import WebDriverWait

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from fidosim_control import Fidosim, to_base64url  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
PORT = int(os.environ.get("APP_PORT", "8001"))
URL = f"http://localhost:{PORT}/"
# Software rendering in a slow VM: each WebAuthn ceremony may take a while.
WAIT = 120

# Selenium Manager must not try to download drivers or browsers.
os.environ.setdefault("SE_OFFLINE", "true")


@pytest.fixture(scope="session")
def site():
    """The demo site, started here and stopped at the end."""
    proc = subprocess.Popen([sys.executable, os.path.join(HERE, "..", "app.py"), str(PORT)])
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(URL, timeout=5).read()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"the demo site did not start on {URL}")
            time.sleep(0.5)
    log(f"the demo site is up on {URL}")
    yield URL
    proc.terminate()
    proc.wait(10)


def log(msg):
    """Progress on the console (pytest -s): a browser start can take a while."""
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# Without a GPU (the test VM), Chromium's GPU process crashes now and then
# as a WebAuthn sheet opens or closes; it restarts, but by default the sixth
# crash makes the whole browser quit ("GPU process isn't usable. Goodbye."),
# and the three tests in one browser come close to that. Without the crash
# limit Chromium only restarts the GPU process (docs/recipes/selenium.md).
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-gpu-process-crash-limit",
)


def chromium():
    options = webdriver.ChromeOptions()
    options.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    for arg in CHROMIUM_ARGS:
        options.add_argument(arg)
    service_options = {}
    if os.environ.get("CHROMEDRIVER_LOG"):
        # chromedriver's verbose log, with Chromium's own output in it
        service_options = {
            "log_output": os.environ["CHROMEDRIVER_LOG"],
            "service_args": ["--verbose", "--enable-chrome-logs"],
        }
    service = webdriver.ChromeService(
        executable_path=os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver"), **service_options
    )
    return webdriver.Chrome(options=options, service=service)


# Seconds a request to geckodriver may take. Selenium's Firefox driver
# allows 120, and in a loaded VM Firefox ESR took 68-124 s to answer the
# new-session request (docs/recipes/selenium.md).
GECKODRIVER_TIMEOUT = 300


class Firefox(webdriver.Firefox):
    """webdriver.Firefox with a longer timeout on its requests to
    geckodriver (GECKODRIVER_TIMEOUT), given through Selenium's ClientConfig;
    the driver and the browser are the ones the caller names."""

    def __init__(self, options, service):
        self.service = service
        self.options = options
        service.start()
        executor = FirefoxRemoteConnection(
            remote_server_addr=service.service_url,
            client_config=ClientConfig(remote_server_addr=service.service_url,
                                       timeout=GECKODRIVER_TIMEOUT),
        )
        try:
            RemoteWebDriver.__init__(self, command_executor=executor, options=options)
        except Exception:
            self.quit()
            raise


def firefox():
    options = webdriver.FirefoxOptions()
    options.binary_location = os.environ.get("FIREFOX", "/usr/bin/firefox-esr")
    options.add_argument("-headless")
    gecko = os.environ.get("GECKODRIVER") or shutil.which("geckodriver")
    if not gecko:
        pytest.fail("geckodriver not found: set GECKODRIVER or put it on PATH")
    return Firefox(options=options, service=webdriver.FirefoxService(executable_path=gecko))


BROWSERS = {"chromium": chromium, "firefox": firefox}


@pytest.fixture(
    scope="module",
    params=[b for b in os.environ.get("BROWSERS", "chromium,firefox").split(",") if b],
)
def driver(request):
    """One browser session per browser (starting a browser is the slow part)."""
    if request.param not in BROWSERS:
        pytest.fail(f"BROWSERS: unknown browser {request.param!r} (have: {', '.join(BROWSERS)})")
    log(f"starting {request.param}")
    d = BROWSERS[request.param]()
    log(f"{request.param} started")
    yield d
    d.quit()


@pytest.fixture
def key():
    """A reset key (no credentials) whose events the test follows."""
    control = Fidosim()
    control.request("POST", "/reset")
    control.request("PUT", "/presence", {"presence": "approve"})
    events = control.follow()
    yield control, events
    events.close()


def status_after(driver, button, busy):
    """Clicks a button and waits until the page no longer says `busy`."""
    log(f"click {button}")
    driver.find_element(By.ID, button).click()
    WebDriverWait(driver, WAIT).until(
        lambda d: d.find_element(By.ID, "status").text not in ("", busy)
    )
    return driver.find_element(By.ID, "status").text


def sign_up(driver, username):
    field = driver.find_element(By.ID, "username")
    field.clear()
    field.send_keys(username)
    assert status_after(driver, "signup", "Signing up...") == f"Signed up as {username}"
    return driver.find_element(By.ID, "credential").text


def test_sign_up_and_sign_in(driver, site, key):
    control, events = key
    driver.get(site)
    credential_id = sign_up(driver, "alice")

    # The key made a discoverable credential for this site, the one the site stored.
    created = events.next("credential.created")
    assert created["rpId"] == "localhost"
    assert to_base64url(created["credentialId"]) == credential_id
    stored = control.request("GET", "/credentials")
    assert [to_base64url(c["credentialId"]) for c in stored] == [credential_id]

    # Username-less sign-in: the browser finds the passkey on the key.
    assert status_after(driver, "signin", "Signing in...") == "Signed in as alice"
    asserted = events.next("credential.asserted")
    assert to_base64url(asserted["credentialId"]) == credential_id
    assert asserted["up"] is True
    assert asserted["uv"] is True  # UV preferred, and the key has built-in UV
    assert driver.find_element(By.ID, "counter").text == str(asserted["signCount"])


def test_rewound_counter_is_refused(driver, site, key):
    control, events = key
    driver.get(site)
    credential_id = sign_up(driver, "bob")
    created = events.next("credential.created")
    assert status_after(driver, "signin", "Signing in...") == "Signed in as bob"
    first = events.next("credential.asserted")

    # Rewind the key's counter, as a cloned key that lags behind would be.
    quoted = urllib.request.quote(created["credentialId"], safe="")
    control.request("PUT", f"/credentials/{quoted}/counter", {"signCount": first["signCount"] - 1})
    status = status_after(driver, "signin", "Signing in...")
    assert status.startswith("Error: ") and "is not above" in status, status
    second = events.next("credential.asserted")
    assert to_base64url(second["credentialId"]) == credential_id
    assert second["signCount"] == first["signCount"]  # signed, and refused by the site


# Headless Chromium keeps a request the key refused open behind an error
# sheet, whatever the WebAuthn timeout says (docs/recipes/selenium.md), so
# the test gives the page's create()/get() calls a timeout of their own,
# before the page loads; the request then ends with TimeoutError.
PAGE_TIMEOUT_MS = 30000
WEBAUTHN_TIMEOUT = f"""
for (const name of ['create', 'get']) {{
  const original = navigator.credentials[name].bind(navigator.credentials);
  navigator.credentials[name] = (options = {{}}) => {{
    const timeout = AbortSignal.timeout({PAGE_TIMEOUT_MS});
    const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
    return original({{...options, signal}});
  }};
}}
"""


def test_refused_touch_ends_the_request(driver, site, key):
    control, events = key
    chromium = driver.capabilities.get("browserName") != "firefox"
    script = None
    if chromium:
        script = driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": WEBAUTHN_TIMEOUT})
    try:
        # The user declines: the key answers CTAP2_ERR_OPERATION_DENIED.
        control.request("PUT", "/presence", {"presence": "deny"})
        driver.get(site)
        driver.find_element(By.ID, "username").send_keys("carol")
        status = status_after(driver, "signup", "Signing up...")
    finally:
        if script:
            driver.execute_cdp_cmd("Page.removeScriptToEvaluateOnNewDocument", script)
    # Firefox rejects by itself; in Chromium the page's timeout ends it.
    assert status.startswith("Error: TimeoutError" if chromium else "Error: NotAllowedError"), status
    # With UV preferred the browser first asks for a UV token
    # (getPinUvAuthTokenUsingUvWithPermissions), whose built-in UV needs the
    # user: that is the request the key refuses, and nothing follows.
    refused = events.next("ctap.error")
    assert refused["command"] == "clientPIN"
    assert refused["status"].startswith("CTAP2_ERR_OPERATION_DENIED")
    assert control.request("GET", "/credentials") == []
