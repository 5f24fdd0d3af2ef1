"""Pydantic v2 models equivalent to ours: the baseline a user would write by hand.

Frozen, camelCase aliases, exact ``Decimal`` amounts, datetimes read as +05:30,
optional fields defaulting to ``None``, unknown keys ignored, an unknown status
kept as its string. (Unlike ours, an unparseable datetime is an error here, not
``None``; the benchmark data has none, so this costs pydantic nothing.)
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from ipay_links import LinkStatus
from ipay_links._core.codec import IST

__all__ = ["Envelope", "PayoutLink"]


def _in_ist(value: datetime) -> datetime:
    return value.replace(tzinfo=IST) if value.tzinfo is None else value.astimezone(IST)


IstDatetime = Annotated[datetime, AfterValidator(_in_ist)]
Status = Annotated[LinkStatus | str, Field(union_mode="left_to_right")]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, alias_generator=to_camel, populate_by_name=True)


class ContactDetails(_Model):
    name: str | None = None
    email: str | None = None
    mobile: str | None = None


class PayoutLink(_Model):
    link_id: Annotated[str, Field(min_length=1)]
    status: Status
    amount: Decimal
    purpose: str | None = None
    description: str | None = None
    contact_details: ContactDetails | None = None
    reference_no: str | None = None
    order_id: str | None = None
    url: str | None = None
    qr_url: str | None = None
    payment_modes: tuple[str, ...] = ()
    verify_bene: bool | None = None
    activated_at: IstDatetime | None = None
    expired_at: IstDatetime | None = None


class PageMeta(_Model):
    total_pages: int
    current_page: int
    total_records: int
    records_on_current_page: int
    record_from: int | None = None
    record_to: int | None = None


class PageData(_Model):
    meta: PageMeta
    records: tuple[PayoutLink, ...] = ()


class Envelope(BaseModel):
    model_config = ConfigDict(frozen=True)

    statuscode: str
    status: str | None = None
    data: PageData | None = None
    timestamp: IstDatetime | None = None
    ipay_uuid: str | None = None
    environment: str | None = None
