"""Driving the Prefect UI the way an operator does, with clear failures.

Fields are found by their visible label; a control that cannot be found fails
with the label, the page and a screenshot path, not a bare timeout.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Locator, Page

from tests.waiting import wait_until

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


class UIError(AssertionError):
    """A control the test needed was not on the page."""


@dataclass
class Operator:
    page: Page
    ui_url: str
    shots: Path
    taken: list[Path] = field(default_factory=list)

    def shot(self, name: str) -> Path:
        path = self.shots / f"{len(self.taken) + 1:02d}-{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        self.taken.append(path)
        return path

    def fail(self, what: str) -> None:
        path = self.shot("failure")
        raise UIError(f"{what} (page {self.page.url}; screenshot {path})")

    def find(self, locator: Locator, what: str, timeout: float = 15_000) -> Locator:
        try:
            locator.first.wait_for(state="visible", timeout=timeout)
        except PlaywrightError:
            self.fail(f"could not find {what}")
        return locator.first

    # -- deployments -----------------------------------------------------------

    def open_deployment(self, name: str) -> None:
        self.page.goto(f"{self.ui_url}/deployments", wait_until="networkidle")
        self.find(self.page.get_by_role("link", name=name, exact=True), f"the deployment {name!r}").click()
        self.page.wait_for_url("**/deployments/deployment/**")
        self.shot(f"deployment-{name}")

    def custom_run(self, deployment: str, fields: dict[str, Any]) -> str:
        """Fill the deployment's parameter form and submit it; returns the run's id."""
        self.open_deployment(deployment)
        self.find(self.page.get_by_role("button", name="Run", exact=True), "the Run button").click()
        self.find(self.page.get_by_text("Custom run", exact=True), "the Custom run menu item").click()
        self.page.wait_for_url("**/run?**")
        self.fill_form(self.page, fields)
        self.shot(f"form-{deployment}")
        self.find(self.page.get_by_role("button", name="Submit"), "the Submit button").click()
        self.page.wait_for_url(re.compile(r".*/deployments/deployment/[^/]+(\?.*)?$"))
        links = self.page.locator("a[href*='/runs/flow-run/']")
        # the run list fills in once the server has the run; the page is read again until it shows
        self.wait_on_page(lambda: links.count() > 0, "the new run in the deployment's run list", timeout=30)
        link = self.find(links, "the new run in the deployment's run list")
        run_id = link.get_attribute("href").rstrip("/").split("/")[-1]
        return run_id

    # -- runs ------------------------------------------------------------------

    def open_run(self, run_id: str) -> None:
        self.page.goto(f"{self.ui_url}/runs/flow-run/{run_id}", wait_until="networkidle")

    def wait_on_page(self, done, what: str, timeout: float) -> None:
        """Reload the page until ``done()`` holds (the UI does not refresh every view by itself)."""

        def probe() -> bool:
            if done():
                return True
            self.page.reload(wait_until="networkidle")
            return done()

        try:
            wait_until(probe, what=what, timeout=timeout, interval=1)
        except AssertionError as error:
            self.fail(str(error))

    def resume(self, run_id: str, fields: dict[str, Any], name: str, wait_s: float = 90,
               brief: str | None = None) -> None:
        """Open a suspended run, wait for its Resume button, check that the gate's brief can be
        read (``brief``: its first line), fill the form and submit it once. A refused answer
        or a dialog that stays open fails the test with what the server said."""
        self.open_run(run_id)
        button = self.page.get_by_role("button", name="Resume")
        self.wait_on_page(lambda: button.count() > 0, f"a Resume button on run {run_id}", timeout=wait_s)
        self.shot(f"suspended-{name}")
        button.first.click()
        dialog = self.find(self.page.get_by_role("dialog"), "the Resume dialog")
        if brief is not None:
            self.assert_readable(dialog, brief, name)
        self.fill_form(dialog, fields)
        self.shot(f"resume-form-{name}")
        answers, trouble = self.submit_resume(dialog)
        refused = [r for r in answers if not 200 <= r[0] < 300]
        if trouble is not None or refused or not answers:
            self.shot(f"resume-refused-{name}")
            said = "; ".join(f"{status} {body}" for status, body in answers) or "no resume request sent"
            self.fail(f"the answer at {name} was not taken: server said {said}; {trouble or 'the dialog closed'}")

    def assert_readable(self, scope: Locator, text: str, name: str) -> None:
        """The element showing ``text`` is scrolled to and is what a person sees at its place:
        inside the viewport, not of zero size, and on top (nothing drawn over it)."""
        target = self.find(scope.get_by_text(text, exact=False), f"the brief's line {text!r}")
        target.scroll_into_view_if_needed()
        box = target.bounding_box()
        viewport = self.page.viewport_size
        if not box or box["width"] < 1 or box["height"] < 1:
            self.fail(f"the brief's line {text!r} has no size ({box})")
        x, y = box["x"] + min(box["width"], 40) / 2, box["y"] + box["height"] / 2
        if not (0 <= x < viewport["width"] and 0 <= y < viewport["height"]):
            self.fail(f"the brief's line {text!r} is outside the viewport at {x:.0f},{y:.0f}")
        on_top = target.evaluate(
            "(el, [x, y]) => { const hit = document.elementFromPoint(x, y); return !!hit && (el === hit || el.contains(hit)); }",
            [x, y])
        self.shot(f"brief-{name}")
        if not on_top:
            self.fail(f"the brief's line {text!r} is covered at {x:.0f},{y:.0f}")

    def submit_resume(self, dialog: Locator) -> tuple[list[tuple[int, str]], str | None]:
        """Submit the Resume dialog once. Returns every answer to the resume request (status,
        body), and None once the dialog closed, else what it reads."""
        answers: list[Any] = []

        def keep(response: Any) -> None:
            if response.request.method == "POST" and response.url.rstrip("/").endswith("/resume"):
                answers.append(response)

        self.page.on("response", keep)
        try:
            self.find(dialog.get_by_role("button", name="Submit"), "the dialog's Submit button").click()
            try:
                dialog.wait_for(state="hidden", timeout=15_000)
                trouble = None
            except PlaywrightError:
                text = " ".join(dialog.inner_text().split()) if dialog.count() else ""
                trouble = f"the dialog stayed open and reads: {text[:600]!r}"
            try:  # the request's answer may arrive just after the dialog closed
                wait_until(lambda: answers, what="the answer to the resume request", timeout=10, show=len)
            except AssertionError:
                pass  # none came: the caller reports it
            return [(r.status, self._body(r)) for r in answers], trouble
        finally:
            self.page.remove_listener("response", keep)

    @staticmethod
    def _body(response: Any) -> str:
        try:
            return response.text()[:300]
        except PlaywrightError as error:
            return f"(body unreadable: {error})"

    # -- forms -----------------------------------------------------------------

    def field(self, scope: Page | Locator, label: str) -> Locator:
        """The body (controls) of the form property whose label reads ``label``."""
        pattern = re.compile(rf"^\s*{re.escape(label)}( \(Optional\))?\s*$")
        name = self.page.locator(".schema-form-property__label").filter(has_text=pattern)
        found = scope.locator("div.schema-form-property").filter(has=name)
        self.find(found, f"the field {label!r}")
        # properties nest (a parameter model holds its fields): the innermost comes last
        return found.last.locator(".p-label__body").first

    def fill_form(self, scope: Page | Locator, fields: dict[str, Any]) -> None:
        """Fill each field; a callable value is called as its field is typed (a one-time code
        is read off the authenticator just before it is typed, as a person does)."""
        for label, value in fields.items():
            body = self.field(scope, label)
            if callable(value):
                value = value()
            if isinstance(value, bool):
                switch = body.locator("[role=switch]").first
                checked = switch.locator("input").first.is_checked() if switch.locator("input").count() else (
                    switch.get_attribute("aria-checked") == "true")
                if checked != value:
                    switch.click()
            elif isinstance(value, Typed):
                # an optional field: pick its type first, then fill the box that appears
                body.get_by_role("button", name=value.kind, exact=True).click()
                body.locator("textarea, input:not([type=checkbox])").first.fill(str(value.value))
            elif isinstance(value, list):
                for index, item in enumerate(value):
                    body.get_by_role("button", name="Add item").click()
                    body.locator("textarea, input:not([type=checkbox])").nth(index).fill(str(item))
            elif isinstance(value, Select):
                native = body.locator("select")
                if native.count():
                    native.first.select_option(label=value.option)
                    continue
                control = body.locator("button.p-select-button__control, [role=combobox]").first
                current = body.locator(".p-select-button__value")
                if current.count() and current.first.inner_text().strip() == value.option:
                    continue
                control.click()
                options = self.page.locator(".p-select-option")
                if not options.first.is_visible():
                    control.press("ArrowDown")  # the list opens from the keyboard
                option = self.page.get_by_role("option", name=value.option, exact=True).or_(
                    options.filter(has_text=re.compile(rf"^\s*{re.escape(value.option)}\s*$"))
                )
                self.find(option, f"the option {value.option!r} of {label!r}").click()
            else:
                body.locator("textarea, input:not([type=checkbox])").first.fill(str(value))


@dataclass(frozen=True)
class Select:
    """A value picked from a select control."""

    option: str


@dataclass(frozen=True)
class Typed:
    """A value for an optional field, whose type is chosen before it is typed."""

    kind: str
    value: Any
