"""ipay_links: an asyncio client for InstantPay's Payout Link List API."""

import logging

from ._core.checkpoint import Checkpoint, WalkStats
from ._core.protocol import DEFAULT_PER_PAGE, MAX_PER_PAGE, Query
from ._io.client import DEFAULT_BASE_URL, Client, WalkOptions
from ._io.clock import Clock, LoopClock
from ._io.pagination import LinkWalk, PageWalk
from ._io.retry import RetryPolicy
from .credentials import Credentials
from .errors import (
    ApiError,
    AuthenticationError,
    ConsistencyError,
    DatabaseError,
    DatabaseUnavailableError,
    IpayError,
    NotSyncedError,
    RateLimitError,
    ResponseFormatError,
    SchemaError,
    ServiceUnavailableError,
    SyncBusyError,
    TransportError,
    UnstorableLinkError,
)
from .models import ContactDetails, LinkStatus, Page, PageMeta, PayoutLink

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_PER_PAGE",
    "MAX_PER_PAGE",
    "ApiError",
    "AuthenticationError",
    "Checkpoint",
    "Client",
    "Clock",
    "ConsistencyError",
    "ContactDetails",
    "Credentials",
    "DatabaseError",
    "DatabaseUnavailableError",
    "IpayError",
    "LinkStatus",
    "LinkWalk",
    "LoopClock",
    "NotSyncedError",
    "Page",
    "PageMeta",
    "PageWalk",
    "PayoutLink",
    "Query",
    "RateLimitError",
    "ResponseFormatError",
    "RetryPolicy",
    "SchemaError",
    "ServiceUnavailableError",
    "SyncBusyError",
    "TransportError",
    "UnstorableLinkError",
    "WalkOptions",
    "WalkStats",
    "__version__",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())
