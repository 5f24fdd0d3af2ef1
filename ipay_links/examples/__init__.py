"""Two small programs that use ipay_links as its two kinds of users do.

- :mod:`ipay_links.examples.webapp`: an aiohttp application sharing one client.
- :mod:`ipay_links.examples.reconcile`: a resumable batch job writing a CSV.

Both run against the simulator (``ipay-links simulate``) as well as the real API.
"""
