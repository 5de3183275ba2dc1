"""The web page in a real headless Chromium (Debian's, driven by chromedriver) against the
embedded stack: token, paste, a file, a web page's URL, progress, the summary; untrusted titles
stay text."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.conftest import Fakes
from tests.e2e.support import DOC_TIMEOUT, Stack
from tests.fakes import InMemoryRateLimiter
from tests.http_servers import serving_pages
from tests.served_api import TOKEN, ServedApi, serving

pytestmark = [pytest.mark.e2e, pytest.mark.llm, pytest.mark.browser]

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
HOSTILE_TITLE = "<img src=x onerror=alert(1)>"
TEXT = (
    "Honeybees communicate the location of food with a waggle dance. The angle of the dance "
    "relative to vertical gives the direction relative to the sun, and its duration tells the "
    "distance. Other bees follow the dancer and then fly out to the flowers themselves."
)
PHONE = (390, 844)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        pytest.fail("Debian's chromium and chromium-driver are needed: `make tools` installs them")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    # This machine has no network beyond loopback: keep Chromium from reaching out.
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium')}",
        f"--window-size={PHONE[0]},{PHONE[1]}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # An explicit driver path: Selenium Manager never tries to download one.
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def open_page(browser: WebDriver, stack: Stack | ServedApi) -> None:
    browser.get_log("browser")  # what an earlier test left (e.g. its expected 401) is not ours
    browser.get(f"{stack.api_url if isinstance(stack, Stack) else stack.url}/")
    browser.execute_script("sessionStorage.clear()")
    browser.refresh()
    WebDriverWait(browser, 10).until(lambda b: b.find_element(By.ID, "token").is_displayed())


def message(browser: WebDriver) -> str:
    return str(browser.find_element(By.ID, "message").text)


def wait_for_message(browser: WebDriver, contains: str, timeout: float = 15) -> str:
    WebDriverWait(browser, timeout).until(lambda b: contains in message(b))
    return message(browser)


def enter_token(browser: WebDriver, token: str) -> None:
    field = browser.find_element(By.ID, "token")
    field.clear()
    field.send_keys(token, Keys.ENTER)  # the keyboard alone submits the form


def severe_console_entries(browser: WebDriver) -> list[str]:
    return [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]


def test_the_page_loads_without_a_token_and_breaks_no_policy(
    browser: WebDriver, stack: Stack
) -> None:
    assert f"Web page   {stack.api_url}/" in stack.console()  # `make up` tells where it is
    open_page(browser, stack)
    assert browser.title == "docsum"
    assert browser.find_element(By.TAG_NAME, "h1").text == "docsum"
    assert severe_console_entries(browser) == []  # no CSP violation, no failed load


def test_a_wrong_token_says_so_and_puts_the_focus_back_on_it(
    browser: WebDriver, stack: Stack
) -> None:
    open_page(browser, stack)
    enter_token(browser, "not-the-token")
    assert "rejected the token" in wait_for_message(browser, "rejected")
    assert browser.switch_to.active_element.get_attribute("id") == "token"
    # The token never appears in a URL.
    assert "not-the-token" not in browser.current_url


def wait_until_settled(browser: WebDriver) -> str:
    WebDriverWait(browser, DOC_TIMEOUT, poll_frequency=0.5).until(
        lambda b: b.find_element(By.ID, "doc-status").text in ("done", "failed")
    )
    return str(browser.find_element(By.ID, "doc-status").text)


def test_upload_a_pdf_watch_it_and_read_the_summary_with_a_hostile_title_shown_as_text(
    browser: WebDriver, stack: Stack, tmp_path: Path
) -> None:
    from tests.files import pdf

    document = tmp_path / "bees.pdf"
    document.write_bytes(pdf([TEXT], title="Bees"))
    open_page(browser, stack)
    enter_token(browser, stack.info["api_token"])
    wait_for_message(browser, "Token accepted")
    stored = browser.execute_script("return sessionStorage.getItem('docsum.token')")
    assert stored == stack.info["api_token"]
    browser.find_element(By.ID, "title").send_keys(HOSTILE_TITLE)
    browser.find_element(By.ID, "file").send_keys(str(document))  # what picking a file does
    browser.find_element(By.ID, "submit").send_keys(Keys.ENTER)  # the keyboard submits

    assert wait_until_settled(browser) == "done"
    assert "bees.pdf" in browser.find_element(By.ID, "doc-source").text
    summary = browser.find_element(By.ID, "doc-summary").text
    assert 0 < len(summary) <= 1500
    assert message(browser) == "Summary ready."

    # A click on a sentence shows the passage it cites, highlighted in the text around it.
    sentence = browser.find_elements(By.CSS_SELECTOR, "#doc-summary .sentence")[0]
    sentence.click()
    WebDriverWait(browser, 15).until(lambda b: b.find_element(By.ID, "doc-passage").is_displayed())
    passage = browser.find_element(By.CSS_SELECTOR, "#doc-passage-text mark").text
    assert passage
    assert " ".join(passage.split()) in " ".join(TEXT.split())
    assert "characters" in browser.find_element(By.ID, "doc-passage-where").text

    # The hostile title is shown literally and nothing of it ran.
    assert browser.find_element(By.ID, "doc-title").text == HOSTILE_TITLE
    assert browser.find_elements(By.TAG_NAME, "img") == []
    with pytest.raises(NoAlertPresentException):
        _ = browser.switch_to.alert.text
    # Readable on a phone: nothing wider than the screen.
    assert browser.execute_script(
        "return document.documentElement.scrollWidth <= window.innerWidth"
    )
    assert severe_console_entries(browser) == []

    # The whole finished page at a desktop width (docs/web-page.png is such a picture).
    browser.set_window_size(900, 800)
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(900, int(height) + 200)  # the window is taller than its viewport
    browser.execute_script("window.scrollTo(0, 0)")
    screenshot = tmp_path / "web-page.png"
    browser.save_screenshot(str(screenshot))
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_web_page_given_by_url_is_fetched_and_shown_with_its_own_title(
    browser: WebDriver, stack: Stack
) -> None:
    # A page on loopback http: the stack allows it as `make up` does (CALLBACK_ALLOW_LOOPBACK_HTTP).
    article = (
        "<html><head><title>The waggle dance</title></head><body><nav>Home · Bees</nav>"
        f"<article><p>{TEXT}</p></article></body></html>"
    )
    served = {"/waggle.html": (200, "text/html; charset=utf-8", article.encode())}
    with serving_pages(served) as base:
        url = f"{base}/waggle.html"
        open_page(browser, stack)
        enter_token(browser, stack.info["api_token"])
        wait_for_message(browser, "Token accepted")
        browser.find_element(By.ID, "url").send_keys(url)
        browser.find_element(By.ID, "submit").click()
        assert wait_until_settled(browser) == "done"
    assert browser.find_element(By.ID, "doc-title").text == "The waggle dance"
    assert browser.find_element(By.ID, "doc-source").text == url
    summary = browser.find_element(By.ID, "doc-summary").text
    assert 0 < len(summary) <= 1500
    assert message(browser) == "Summary ready."
    assert severe_console_entries(browser) == []


def test_options_chosen_on_the_page_are_the_documents_options(
    browser: WebDriver, stack: Stack
) -> None:
    open_page(browser, stack)
    enter_token(browser, stack.info["api_token"])
    wait_for_message(browser, "Token accepted")
    Select(browser.find_element(By.ID, "length")).select_by_value("short")
    Select(browser.find_element(By.ID, "format")).select_by_value("bullets")
    browser.find_element(By.ID, "text").send_keys(TEXT.replace("Honeybees", "Bumblebees"))
    browser.find_element(By.ID, "submit").click()
    WebDriverWait(browser, 15).until(lambda b: b.find_element(By.ID, "doc-options").text)
    assert browser.find_element(By.ID, "doc-options").text == "short · bullets"
    assert wait_until_settled(browser) in ("done", "failed")  # the guard may refuse a stand-in


def test_list_and_delete_from_the_page(browser: WebDriver, stack: Stack) -> None:
    title = "Remove me: a document to delete"
    with stack.api() as api:
        posted = api.post("/documents", json={"title": title, "text": TEXT + " Delete me."})
        assert posted.status_code == 202, posted.text
    open_page(browser, stack)
    enter_token(browser, stack.info["api_token"])
    wait_for_message(browser, "Token accepted")
    browser.find_element(By.ID, "refresh").click()
    WebDriverWait(browser, 15).until(lambda b: title in b.find_element(By.ID, "documents").text)
    [entry] = [
        b for b in browser.find_elements(By.CSS_SELECTOR, "#documents button") if title in b.text
    ]
    entry.click()
    assert browser.find_element(By.ID, "doc-title").text == title
    browser.find_element(By.ID, "delete").click()
    browser.switch_to.alert.accept()  # "Delete …?"
    assert "Deleted" in wait_for_message(browser, "Deleted")
    WebDriverWait(browser, 15).until(lambda b: title not in b.find_element(By.ID, "documents").text)
    with stack.api() as api:
        assert api.get(f"/documents/{posted.json()['id']}").status_code == 404


def test_a_poll_refused_by_the_rate_limit_is_waited_out_and_watching_goes_on(
    browser: WebDriver, fakes: Fakes
) -> None:
    """A 429 (or the network, or a 5xx) while the page polls says nothing about the document:
    the page says so, waits the Retry-After and polls again until the summary is there."""
    fakes.llm.script = ["Bees dance to tell the others where the flowers are."]
    # 3 requests in 4 s: the token check, the submission, then the polls meet the limit.
    with serving(fakes, InMemoryRateLimiter(requests=3, window_seconds=4)) as served:
        served.worker_paused.set()  # the document stays queued while the polls meet the limit
        open_page(browser, served)
        enter_token(browser, TOKEN)
        wait_for_message(browser, "Token accepted")
        browser.find_element(By.ID, "text").send_keys(TEXT)
        browser.find_element(By.ID, "submit").click()
        limited = wait_for_message(browser, "Trying again in", timeout=30)
        assert "rate limit of client default reached" in limited
        served.worker_paused.clear()
        assert wait_until_settled(browser) == "done"
        assert message(browser) == "Summary ready."
        assert "Bees dance" in browser.find_element(By.ID, "doc-summary").text
