"""The browser fixtures (tests/web/browser.py) for the browser tests of this folder; they start
Chromium only for a test that asks for them."""

from tests.web.browser import browser, page

__all__ = ["browser", "page"]
