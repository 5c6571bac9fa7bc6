"""What the store does for a customer on request: resend an invoice, start a password reset.

The service behind the actions is created lazily, like actions/providers.py (nothing opens at import).
"""

from __future__ import annotations

import os
from functools import cache

from actions.account.service import CustomerService
from common.env import read_url

DEFAULT_STOREFRONT_URL = "http://localhost:8000"


@cache
def storefront_url() -> str:
    """STOREFRONT_URL: where reset links point (the storefront's own reset page)."""
    return read_url(os.environ, "STOREFRONT_URL", DEFAULT_STOREFRONT_URL, ("http", "https"))


@cache
def customer_service() -> CustomerService:
    from actions.account.sqlite_service import SqliteCustomerService
    from actions.providers import order_store
    from actions.settings import action_settings

    return SqliteCustomerService(action_settings().order_db, order_store(), storefront_url())
