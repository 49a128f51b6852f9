"""`mailbot web`: the staff console, server-rendered pages over the same services as the CLI.

    console.py        the Starlette application: routes, static files, error pages
    auth.py           sessions (cookie -> staff account), roles, CSRF, the page decorator
    security.py       response headers (CSP without inline script), the login rate limit
    pages.py          Jinja2 rendering: autoescaped, customer text always data
    routes_*.py       the pages, one module per area
    common.py         what the customer, license, report and dashboard pages share
    charts.py         series -> SVG markup for the dashboard (pure, every label escaped)

Every endpoint is `async` and calls the (synchronous, local) store directly: one SQLite
connection used from the event loop's thread only, so no two requests write at once and no
connection is shared between threads. Actions only write rows (replies go to the outbox, which
`mailbot run` delivers), so no request waits on a network.
"""
