from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime

import pytest

from services.storage.domain.errors import InvalidPageToken
from services.storage.domain.model import Cursor
from services.storage.service.paging import decode_token, encode_token


def test_token_round_trips_to_the_microsecond():
    cursor = Cursor(
        created_at=datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=UTC), id=str(uuid.uuid4())
    )
    assert decode_token(encode_token(cursor)) == cursor


def test_empty_token_is_the_first_page():
    assert decode_token("") is None


@pytest.mark.parametrize(
    "raw",
    [
        b"[]",
        b'{"t":"2026-01-01T00:00:00","i":"00000000-0000-0000-0000-000000000000"}',  # naive time
        b'{"t":"2026-01-01T00:00:00+00:00","i":"../../etc"}',
        b'{"t":"2026-01-01T00:00:00+00:00","i":7}',
        b'{"t":5,"i":"00000000-0000-0000-0000-000000000000"}',
        b"\xff\xfe",
    ],
)
def test_malformed_tokens_are_rejected(raw):
    with pytest.raises(InvalidPageToken):
        decode_token(base64.urlsafe_b64encode(raw).decode())
