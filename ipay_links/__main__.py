"""``python -m ipay_links``: the ``ipay-links`` command."""

from .cli import main

raise SystemExit(main())
