"""The shared e-mail syntax check: forms and domain rules accept and refuse the same."""

from __future__ import annotations

import pytest

from models.services import addresses


@pytest.mark.parametrize("text, expected", [
    ("anna@example.com", "anna@example.com"),
    ("Anna@EXAMPLE.com", "Anna@example.com"),  # the domain is normalised, the local part kept
    ("jörg@bücher.de", "jörg@bücher.de"),
])
def test_valid_addresses_come_back_normalised(text, expected):
    assert addresses.normalised(text) == expected


@pytest.mark.parametrize("text", ["", "anna", "anna@", "@example.com", "anna@@example.com", "anna example.com",
                                  "anna@example", "anna@exa mple.com"])
def test_invalid_addresses_are_none_every_time(text):
    assert addresses.normalised(text) is None
    assert addresses.normalised(text) is None  # a cached refusal stays a refusal
