"""The one-time secret page in a real browser (headless Chromium through Selenium), against a
running secret lab: created in the page, opened in the CLI; created in the CLI, revealed in the
page; a second reveal says "already opened"; a tampered ciphertext shows an error; and neither
the server's access log nor any request the browser made carries the #fragment.

    secret_browser.py ORIGIN WIRELAB STATE_DIR ACCESS_LOG [SCREENSHOT_DIR]
"""
import json
import os
import subprocess
import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

origin, wirelab, state, access_log = sys.argv[1:5]
shots = sys.argv[5] if len(sys.argv) > 5 else None
env = dict(os.environ, XDG_STATE_HOME=state)


def cli(*args, stdin=None):
    r = subprocess.run([wirelab, "secret", *args], input=stdin, capture_output=True, text=True, env=env)
    return r.returncode, r.stdout, r.stderr


opts = webdriver.ChromeOptions()
for a in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
          "--window-size=1280,900", "--hide-scrollbars"]:
    opts.add_argument(a)
opts.set_capability("goog:loggingPrefs", {"performance": "ALL"})
binary = os.environ.get("CHROMIUM", "/usr/bin/chromium")
if os.path.exists(binary):
    opts.binary_location = binary
driver_path = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
driver = webdriver.Chrome(service=Service(driver_path), options=opts)
wait = WebDriverWait(driver, 15)
tokens = []


def status_text():
    wait.until(lambda d: d.find_element(By.ID, "status").is_displayed())
    return driver.find_element(By.ID, "status").text


try:
    # 1. Created in the page, opened in the CLI.
    driver.get(origin + "/")
    wait.until(EC.element_to_be_clickable((By.ID, "create")))
    wait.until(lambda d: len(Select(d.find_element(By.ID, "ttl")).options) > 0)
    driver.find_element(By.ID, "secret").send_keys("made in the browser ✓")
    Select(driver.find_element(By.ID, "ttl")).select_by_value("3600")
    driver.find_element(By.ID, "create").click()
    wait.until(lambda d: d.find_element(By.ID, "link").get_attribute("value"))
    link = driver.find_element(By.ID, "link").get_attribute("value")
    assert link.startswith(origin + "/s/") and "#" in link, link
    tokens.append(link.split("#", 1)[1])
    if shots:
        driver.set_window_size(1280, 900)
        driver.find_element(By.ID, "secret").send_keys("the launch code is 0000")
        driver.save_screenshot(os.path.join(shots, "secret-desktop.png"))
    code, out, err = cli("open", link)
    assert code == 0 and out == "made in the browser ✓\n", (code, out, err)

    # 2. Created in the CLI, revealed in the page; the reveal is a click, not the page load.
    code, link, err = cli("send", stdin="made in the CLI\n")
    assert code == 0, err
    link = link.strip()
    tokens.append(link.split("#", 1)[1])
    if shots:
        driver.set_window_size(390, 844)
    driver.get(link)
    wait.until(EC.element_to_be_clickable((By.ID, "reveal")))
    # The page took the key out of the address bar.
    assert "#" not in driver.current_url, driver.current_url
    code, out, err = cli("snoop", "--json")
    assert code == 0 and json.loads(out)["live"] >= 1, out
    if shots:
        driver.save_screenshot(os.path.join(shots, "secret-phone-reveal.png"))
    driver.find_element(By.ID, "reveal").click()
    wait.until(lambda d: d.find_element(By.ID, "plaintext").get_attribute("value"))
    assert driver.find_element(By.ID, "plaintext").get_attribute("value") == "made in the CLI\n"
    if shots:
        driver.save_screenshot(os.path.join(shots, "secret-phone.png"))

    # 3. A second reveal: already opened.
    driver.get("about:blank")
    driver.get(link)
    wait.until(lambda d: "already opened" in d.find_element(By.ID, "reveal-info").text.lower())
    assert "Already opened" in status_text()

    # 4. A tampered ciphertext: an error, no plaintext.
    code, link, err = cli("send", stdin="do not alter")
    link = link.strip()
    tokens.append(link.split("#", 1)[1])
    code, out, err = cli("tamper", link)
    assert code == 0, err
    driver.get("about:blank")
    driver.get(link)
    wait.until(EC.element_to_be_clickable((By.ID, "reveal")))
    driver.find_element(By.ID, "reveal").click()
    wait.until(lambda d: "Decryption failed" in d.find_element(By.ID, "status").text)
    assert driver.find_element(By.ID, "plaintext").get_attribute("value") == ""
    assert not driver.find_element(By.ID, "revealed").is_displayed()

    # 5. The fragment was never sent: not in any request the browser made...
    urls = []
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg.get("method") == "Network.requestWillBeSent":
            urls.append(msg["params"]["request"]["url"])
    assert any("/api/secrets/" in u for u in urls), urls
    for u in urls:
        assert "#" not in u, u
        for t in tokens:
            assert t not in u, u
    # ...nor in the server's access log.
    time.sleep(0.2)
    log = open(access_log, encoding="utf-8").read()
    assert "/claim" in log, log
    for t in tokens:
        assert t not in log
    assert "#" not in log
    print(f"browser: {len(urls)} requests checked, none carried a fragment")
finally:
    driver.quit()
