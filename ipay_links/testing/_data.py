"""A deterministic, realistic data set of payout links, in InstantPay's wire form."""

from __future__ import annotations

import random
import string
from datetime import datetime, timedelta
from typing import Any

__all__ = ["EPOCH", "generate_links", "make_link", "parse_created"]

_FIRST = [
    "Aarav",
    "Vivaan",
    "Aditya",
    "Ananya",
    "Diya",
    "Ishaan",
    "Kavya",
    "Rohan",
    "Saanvi",
    "Arjun",
    "Meera",
    "Neha",
    "Priya",
    "Rahul",
    "Sneha",
    "Vikram",
    "Pooja",
    "Karan",
]
_LAST = [
    "Sharma",
    "Verma",
    "Iyer",
    "Nair",
    "Reddy",
    "Gupta",
    "Patel",
    "Singh",
    "Das",
    "Menon",
    "Kulkarni",
    "Chatterjee",
    "Joshi",
    "Rao",
    "Banerjee",
    "Mehta",
]
_PURPOSES = ["refund", "cashback", "reimbursement", "incentive", "salary", "vendor payout"]
_DESCRIPTIONS = [
    "Giving captch payment",
    "Order refund",
    "Festive cashback",
    "Travel reimbursement",
    "Monthly incentive",
    None,
]
# Weighted: most links are still open or already claimed.
_STATUSES = ["ISSUED"] * 4 + ["CLAIMED"] * 3 + ["CANCELLED", "PROCESSING", "EXPIRED"]
_MODES = [
    ["ACCOUNT"],
    ["VPA"],
    ["ACCOUNT", "VPA"],
    ["ACCOUNT", "VPA", "AMAZON"],
    ["CREDITCARD"],
    ["AMAZON"],
]
# When the first link of every data set is created (links inserted later come after).
EPOCH = datetime(2024, 1, 1, 9, 0, 0)
_FORMAT = "%Y-%m-%d %H:%M:%S"


def _amount(rng: random.Random) -> int | float:
    """Rupees with paise as a JSON number: some whole (sent as ints), some ending in zero."""
    rupees = rng.choice(
        [rng.randint(1, 999), rng.randint(1000, 99999), rng.randint(100000, 999999)]
    )
    kind = rng.random()
    if kind < 0.2:
        return rupees
    paise = rng.randint(1, 9) * 10 if kind < 0.35 else rng.randint(1, 99)
    # float() of "123.45" is the float whose shortest repr is "123.45": the text is exact.
    return float(f"{rupees}.{paise:02d}")


def make_link(rng: random.Random, index: int, created: datetime) -> dict[str, Any]:
    """One link created at ``created``; ``index`` makes its id unique."""
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    code = "".join(rng.choices(string.ascii_letters + string.digits, k=6))
    seconds = int((created - datetime(1970, 1, 1)).total_seconds())
    link_id = f"{seconds:08x}{index:016x}"[-24:]
    status = rng.choice(_STATUSES)
    expires = created + timedelta(days=rng.randint(7, 120))
    return {
        "amount": _amount(rng),
        "purpose": rng.choice(_PURPOSES),
        "description": rng.choice(_DESCRIPTIONS),
        "status": status,
        "linkId": link_id,
        "contactDetails": {
            "name": f"{first} {last}",
            "email": f"{first.lower()}.{last.lower()}{index}@example.in",
            "mobile": f"{rng.choice('6789')}{rng.randint(0, 999_999_999):09d}",
        },
        "referenceNo": rng.choice(["NA", f"REF{index:08d}"]),
        "orderId": f"{created:%y%m%d%H%M%S}{''.join(rng.choices(string.ascii_uppercase, k=5))}",
        "url": f"https://instant.pe/{code}",
        "qrUrl": f"https://api.instantpay.in/payment/payout/link/qr/{code}",
        "paymentModes": rng.choice(_MODES),
        "verifyBene": rng.random() < 0.7,
        "activatedAt": created.strftime(_FORMAT),
        "expiredAt": expires.strftime(_FORMAT) if rng.random() < 0.9 else None,
    }


def parse_created(link: dict[str, Any]) -> datetime:
    """When a link of this data set was created (its ``activatedAt``)."""
    return datetime.strptime(link["activatedAt"], _FORMAT)


def generate_links(count: int, *, seed: int = 0) -> list[dict[str, Any]]:
    """``count`` links in wire form, newest first, the same for the same seed.

    Every status, amounts with and without paise, Indian mobiles, emails and
    24-hex-digit link ids (an object-id-like time prefix and a unique counter).
    """
    rng = random.Random(seed)
    created = EPOCH
    links = []
    for index in range(count):
        created += timedelta(seconds=rng.randint(30, 900))
        links.append(make_link(rng, index, created))
    links.reverse()
    return links
