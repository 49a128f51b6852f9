"""Services: the use cases (evaluate a mail, issue, escalate, deliver, sync, report) over the
store and the ports."""
