"""Finding users by e-mail for other services (storage shares folders by e-mail)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from services.auth.domain.model import UserSummary


class UserLookup(Protocol):
    async def by_emails(self, emails: Sequence[str]) -> list[UserSummary]:
        """The users with these addresses (case-insensitive); unknown ones are left out."""
        ...
