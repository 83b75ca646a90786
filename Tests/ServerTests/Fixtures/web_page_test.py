"""The web page in a real browser: headless Chromium (Debian's `chromium` and `chromium-driver`) driven by selenium,
against the live server `WebPageTests` starts (scripted model, the real `mcp-server-time`).

Environment: LOGBOOK_URL; ALICE_TOKEN (an operator who may call the clock), ADMIN_TOKEN, EXPIRED_TOKEN; ARTIFACTS (a
directory for the screenshot of a failure and the downloads); SCREENSHOTS (optional: where to save the pictures the
docs show). Exits 0 when every check holds, else prints the first failure and saves a screenshot.
"""

import csv
import io
import json
import os
import re
import sys
import time
import traceback
import urllib.parse
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException, TimeoutException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

URL = os.environ["LOGBOOK_URL"]
ALICE = os.environ["ALICE_TOKEN"]
ADMIN = os.environ["ADMIN_TOKEN"]
EXPIRED = os.environ["EXPIRED_TOKEN"]
ARTIFACTS = os.environ["ARTIFACTS"]
SCREENSHOTS = os.environ.get("SCREENSHOTS")
XSS = "<img src=x onerror=alert(1)>"


def browser():
    options = Options()
    options.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,900",
                     "--disable-gpu", "--no-first-run"):
        options.add_argument(argument)
    options.add_experimental_option("prefs", {
        "download.default_directory": ARTIFACTS, "download.prompt_for_download": False,
    })
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver"))
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(30)
    return driver


def api(method, path, token, body=None):
    """A call to the API beside the browser (setting the scene, never checking the page's own work)."""
    request = urllib.request.Request(URL + path, method=method, data=None if body is None else json.dumps(body).encode(),
                                     headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"null")


class Page:
    def __init__(self, driver):
        self.d = driver

    def wait(self, condition, what, timeout=30):
        try:
            return WebDriverWait(self.d, timeout, poll_frequency=0.1).until(lambda d: condition())
        except TimeoutException:
            raise AssertionError(f"timed out waiting for {what}")

    def find(self, css):
        return self.d.find_element(By.CSS_SELECTOR, css)

    def all(self, css):
        return self.d.find_elements(By.CSS_SELECTOR, css)

    def present(self, css, what=None):
        return self.wait(lambda: self.all(css) and self.all(css)[0], what or css)

    def text(self, css):
        """The element's visible text, read in one step (a view that re-renders cannot leave a stale reference)."""
        return self.d.execute_script("return document.querySelector(arguments[0])?.innerText ?? ''", css)

    def go(self, hash_):
        self.d.execute_script("location.hash = arguments[0]", hash_)

    def sign_in(self, token):
        self.go("#/signin")
        self.present("#token").clear()
        self.find("#token").send_keys(token)
        self.find("#sign-in").click()
        self.wait(lambda: "#/chat" in self.d.current_url, "the chat after signing in")

    def no_alert(self):
        try:
            alert = self.d.switch_to.alert
            raise AssertionError(f"a dialog opened: {alert.text}")
        except NoAlertPresentException:
            pass


def check(condition, message):
    if not condition:
        raise AssertionError(message)


def run(p):
    d = p.d

    def picture(name):
        if SCREENSHOTS:
            d.save_screenshot(os.path.join(SCREENSHOTS, f"{name}.png"))
    d.get(URL + "/")
    # Keep every request the page makes (for the OpenAPI check at the end).
    d.execute_script("performance.setResourceTimingBufferSize(100000)")

    # Sign in: no token yet, so the sign-in view; a non-JWT is refused before any call; then alice.
    p.wait(lambda: "#/signin" in d.current_url, "the sign-in view")
    check(d.execute_script("return sessionStorage.getItem('logbook.token')") is None, "a token before signing in")
    picture("sign-in")
    p.find("#token").send_keys("not a token")
    p.find("#sign-in").click()
    p.wait(lambda: "not a JWT" in p.text("#signin-problem"), "the refusal of a non-JWT")
    p.sign_in(ALICE)
    check("user:alice" in p.text("#who"), f"who is signed in: {p.text('#who')!r}")
    check("token" not in d.current_url.lower() and ALICE not in d.current_url, "the token in the URL")

    # Chat with a tool call: the answer streams in, the tool call and its result show in place.
    p.present("#new-thread").click()
    p.present("#message")
    thread = d.current_url.split("#/chat/")[1]
    p.wait(lambda: p.all("#agent option[value='ops']"), "the agents in the select")
    Select(p.find("#agent")).select_by_value("ops")
    p.find("#message").send_keys("What time is it in Tokyo?")
    p.find("#message").send_keys(Keys.CONTROL, Keys.ENTER)
    p.wait(lambda: p.all("#messages li.streaming"), "the answer streaming")
    p.wait(lambda: p.text("#chat-status").startswith("Done"), "the run to finish", timeout=60)
    calls = [e.text for e in p.all("#messages li.tool-call")]
    check(any("time/get_current_time" in c for c in calls), f"the tool call in the chat: {calls}")
    check(p.all("#messages li.tool-result"), "the tool result in the chat")
    answers = [e.text for e in p.all("#messages li.assistant")]
    check(any("In Tokyo it is" in a for a in answers), f"the streamed answer: {answers}")
    # The items are in the order they happened: the call, its result, then the answer.
    order = [e.get_attribute("class").split()[0] for e in p.all("#messages li")]
    check(order.index("tool-call") < order.index("tool-result") < len(order) - 1 - order[::-1].index("assistant"),
          f"the order of the chat's items: {order}")

    # What a user, a model or a tool writes is text, never markup: the message shows literally and runs nothing.
    # (Answered by a model chosen for the turn, among those the server lists as usable.)
    p.wait(lambda: p.all("#model option[value='scripted-b']"), "the usable models in the select")
    Select(p.find("#model")).select_by_value("scripted-b")
    p.find("#message").send_keys(XSS)
    p.find("#send").click()
    p.wait(lambda: p.text("#chat-status").startswith("Done"), "the second run to finish", timeout=60)
    p.no_alert()
    users = [e.find_element(By.CSS_SELECTOR, ".text").text for e in p.all("#messages li.user")]
    check(XSS in users, f"the message as typed: {users}")
    check(any(XSS in a.text for a in p.all("#messages li.assistant")), "the model's echo as text")
    check(not p.all("#messages img"), "an <img> element made from a message")
    runs = [e["data"]["model"] for e in api("GET", f"/v1/threads/{thread}/events", ALICE)["events"]
            if e["type"] == "run.started"]
    check(runs == ["scripted", "scripted-b"], f"the models of the runs: {runs}")
    picture("chat")

    # Thread search: by text of a message, and nothing for a text no message holds.
    p.find("#thread-search").send_keys("tokyo")
    p.wait(lambda: [a.text for a in p.all("#threads li a")] == [thread], "the search to find the thread")
    p.find("#thread-search").clear()
    p.find("#thread-search").send_keys("no such words anywhere")
    p.wait(lambda: "No thread matches" in p.text("#threads"), "an empty search result")

    # The org default changes after the chat: the timeline shows the model in force at each step.
    api("PUT", "/v1/registry/default-model", ADMIN, {"model": "scripted-b"})

    p.go(f"#/timeline/{thread}")
    p.present("#events li")
    p.wait(lambda: "scripted-b" in p.text("#effective-model-name"), "the model in force now")
    now = int(re.search(r"(\d+) messages?", p.text("#as-of-messages")).group(1))
    check(p.all("#waterfall .bar"), "the waterfall's bars")
    check(any("allow" in e.text for e in p.all("#events li.authz-decided")), "the authorization decisions")
    slider = p.find("#step")
    slider.send_keys(Keys.HOME)
    p.wait(lambda: "event 1 of" in p.text("#step-label"), "the step control at the first event")
    p.wait(lambda: re.search(r"(\d+) messages?", p.text("#as-of-messages"))
           and int(re.search(r"(\d+) messages?", p.text("#as-of-messages")).group(1)) < now,
           "fewer messages as of the first event")
    p.wait(lambda: p.text("#effective-model-name") == "scripted", "the model in force at the first event")
    check("organization" in p.text("#effective-model"), "the effective model's provenance")
    for _ in range(6):
        slider.send_keys(Keys.ARROW_RIGHT)
    p.wait(lambda: "event 7 of" in p.text("#step-label"), "arrow keys moving the step")
    at = int(re.search(r"As of seq (\d+)", p.text("#step-label")).group(1))
    check(f"at={at}" in d.current_url, "the step in the address")
    check(len(p.all("#events li.later")) > 0, "later events marked as not yet happened")
    p.wait(lambda: p.all(f"#as-of-seq[data-seq='{at}']"), "the thread as of the step")
    picture("timeline")

    # Replay: the recording re-executed, no divergence.
    p.find("#replay").click()
    p.wait(lambda: "No divergence" in p.text("#replay-result"), "the replay report", timeout=60)

    # A counterfactual: the last run again under other instructions, into a new thread.
    Select(p.find("#cf-kind")).select_by_value("instructions")
    p.find("#cf-value").send_keys("Answer in French.")
    p.find("#counterfactual button[type=submit]").click()
    p.wait(lambda: "Into" in p.text("#cf-result"), "the counterfactual's thread", timeout=60)

    # Fork from this step with a message, then diff the fork with the original.
    p.find("#fork-text").send_keys("And what time is it now?")
    p.find("#fork button[type=submit]").click()
    p.present("#fork-link", "the fork's link")
    fork = p.find("#fork-link").text
    p.find("#fork-link").click()
    p.wait(lambda: f"#/timeline/{fork}" in d.current_url, "the fork's timeline")
    p.present("#diff-other").send_keys(thread)
    p.find("#diff-form button").click()
    p.present("#diff tbody tr")
    check(p.all("#diff tr.shared"), "shared steps in the diff")
    check(p.all("#diff tr.diverges"), "the step where the threads part")
    check("part at step" in p.text("#diff-summary"), f"the diff's summary: {p.text('#diff-summary')!r}")
    picture("diff")

    # Cancel a running turn (Escape): the page says so and the log records the run as cancelled.
    p.go("#/chat")
    p.present("#new-thread").click()
    p.present("#message").send_keys("Take it slow")
    slow = d.current_url.split("#/chat/")[1]
    p.find("#send").click()
    p.wait(lambda: p.all("#messages li.streaming[data-run]"), "the slow run to start")
    check(p.find("#cancel").is_enabled(), "the cancel button during a run")
    p.find("#message").send_keys(Keys.ESCAPE)
    p.wait(lambda: "Cancelled" in p.text("#chat-status"), "the cancellation")
    check(p.find("#send").is_enabled() and not p.find("#cancel").is_enabled(), "the buttons after cancelling")
    p.wait(lambda: any(e["type"] == "run.finished" and e["data"]["status"] == "cancelled"
                       for e in api("GET", f"/v1/threads/{slow}/events", ALICE)["events"]),
           "the run recorded as cancelled")

    # An operator may not read the audit trail: the page says so.
    p.go("#/audit")
    p.wait(lambda: "You may not" in p.text("#view"), "the 403 explained")

    # The auditor's view as an administrator: only the denied tool call (bob's) with decision = deny.
    p.find("#sign-out").click()
    p.wait(lambda: "#/signin" in d.current_url, "signing out")
    check(d.execute_script("return sessionStorage.getItem('logbook.token')") is None, "the token after signing out")
    p.sign_in(ADMIN)
    p.go("#/audit")
    Select(p.present("#audit-decision")).select_by_value("deny")
    p.find("#audit-search").click()
    p.wait(lambda: "decision=deny" in d.current_url, "the filter in the address")
    p.present("#audit-table tbody tr")
    rows = p.all("#audit-table tbody tr")
    texts = [r.text for r in rows]
    check(all("deny" in t for t in texts), f"only denials: {texts}")
    check(any("tool.call" in t and "tool:time/get_current_time" in t and "user:bob" in t for t in texts),
          f"bob's denied tool call: {texts}")
    check(not p.find("#audit-more").is_displayed(), "a 'More' button with nothing more to show")
    picture("audit")
    bobs = [r for r in rows if "user:bob" in r.text][0]
    bobs.find_element(By.CSS_SELECTOR, "a[href^='#/timeline/bob-1']")  # the entry's link to its thread at its seq

    # Export of the current filter as CSV: a real download, every row a denial.
    p.find("#export-csv").click()
    path = os.path.join(ARTIFACTS, "audit.csv")
    p.wait(lambda: os.path.exists(path) and os.path.getsize(path) > 0, "the CSV download")
    rows = list(csv.DictReader(io.StringIO(open(path, encoding="utf-8").read())))
    check(rows and all(r["decision"] == "deny" for r in rows), f"the exported rows: {rows[:3]}")

    # The registry: models with the default, the clock with its health, agents; an entry's history.
    p.go("#/registry")
    p.present("#models table")
    check("scripted-b" in p.text("#models") and "org default" in p.text("#models"), "the models and the default")
    check("mcp-server-time" in p.text("#mcp"), "the MCP server")
    check("ops" in p.text("#agents"), "the agent")
    check("scripted-b" in p.text("#workspace-model"), f"why the workspace has its model: {p.text('#workspace-model')!r}")
    p.find("#models tbody tr button").click()
    p.wait(lambda: "user:root" in p.text("#models .history"), "the model's history")
    picture("registry")

    # The live tail: the backlog, then a new event as it is committed.
    p.go("#/tail")
    p.wait(lambda: "Live" in p.text("#tail-state"), "the tail catching up")
    before = len(p.all("#tail li"))
    check(before > 0, "the tail's backlog")
    api("PUT", "/v1/registry/agents/tail-probe", ADMIN, {"instructions": "probe"})
    p.wait(lambda: "agent.defined" in p.text("#tail li:first-child"), "a new event in the tail")

    # An expired token leads back to sign-in, saying why.
    d.execute_script("sessionStorage.setItem('logbook.token', arguments[0])", EXPIRED)
    p.go("#/chat")
    p.wait(lambda: "#/signin" in d.current_url, "sign-in after the token expired")
    p.wait(lambda: "Sign in again" in p.text("#view"), "why the page asks to sign in again")

    # Every request the page made is its own file or an operation of the API's document.
    document = json.load(urllib.request.urlopen(URL + "/openapi.json", timeout=30))
    patterns = [re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$") for path in document["paths"]]
    requests = d.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    paths = {urllib.parse.urlsplit(r).path for r in requests if r.startswith(URL)}
    check(len(paths) > 10, f"too few requests seen: {paths}")
    undocumented = sorted(path for path in paths if not any(p_.match(path) for p_ in patterns))
    check(not undocumented, f"requests the OpenAPI document does not describe: {undocumented}")
    foreign = sorted(r for r in requests if not r.startswith(URL) and not r.startswith("blob:"))
    check(not foreign, f"requests to another origin: {foreign}")

    # Nothing the page did broke its Content-Security-Policy.
    violations = [e["message"] for e in d.get_log("browser") if "Content Security Policy" in e["message"]]
    check(not violations, f"CSP violations: {violations}")


def main():
    driver = browser()
    page = Page(driver)
    try:
        run(page)
    except Exception:
        shot = os.path.join(ARTIFACTS, "failure.png")
        try:
            driver.save_screenshot(shot)
        except Exception:
            pass
        traceback.print_exc()
        print(f"url: {driver.current_url}\nscreenshot: {shot}", file=sys.stderr)
        try:
            print("page text:\n" + driver.find_element(By.TAG_NAME, "body").text[:3000], file=sys.stderr)
            for entry in driver.get_log("browser")[-20:]:
                print("console:", entry["message"][:300], file=sys.stderr)
        except Exception:
            pass
        return 1
    finally:
        driver.quit()
    print("web page: every check passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
