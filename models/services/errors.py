"""Domain errors the views turn into 4xx responses with messages next to fields."""

from __future__ import annotations


class DomainError(Exception):
    """A rule of the business was broken; `field` names the input it belongs to."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field

    def within(self, place: str) -> "DomainError":
        """The same error named inside a list: `documents[3]` + `lines[0].unit_price`."""
        return DomainError(self.message, field=place + (f".{self.field}" if self.field else ""))


class NotFound(Exception):
    """The record does not exist *or the actor may not see it*: both answer 404."""
