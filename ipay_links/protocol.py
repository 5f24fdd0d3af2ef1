"""The public home of ``ipay_links._core.protocol``.

Kept so that imports written before the move still work; new code imports from
``ipay_links``.
"""

from ._core.protocol import (
    DEFAULT_PER_PAGE,
    LIST_PATH,
    MAX_PER_PAGE,
    PUSH_BACK_HTTP,
    Query,
    Request,
    build_request,
    check_base_url,
    check_page,
    check_positive,
    make_query,
    read_response,
    retry_after_of,
)

__all__ = [
    "DEFAULT_PER_PAGE",
    "LIST_PATH",
    "MAX_PER_PAGE",
    "PUSH_BACK_HTTP",
    "Query",
    "Request",
    "build_request",
    "check_base_url",
    "check_page",
    "check_positive",
    "make_query",
    "read_response",
    "retry_after_of",
]
