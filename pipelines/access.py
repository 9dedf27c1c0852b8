"""Who may do what: the roles of DESIGN.md, checked by the write functions themselves.

A page that forgets a check still cannot write: ``add_count``, ``void_count``, the schedule
writers and the forced load all take the acting ``User`` and call ``require`` before they
touch a table. How a person becomes a ``User`` (local account or OIDC sign-in) is the
dashboard's business; the CLI and Dagster act as ``User.system(...)``, a manager, because
whoever can run them can already write the DuckDB file.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    VIEWER = "viewer"  # reads
    COUNTER = "counter"  # also enters, edits and voids their own counts
    MANAGER = "manager"  # also changes schedules, voids others' counts, uploads, forces loads


class Action(StrEnum):
    ENTER_COUNTS = "enter counts"
    CHANGE_OTHERS_COUNTS = "edit or void counts entered by someone else"
    CHANGE_SCHEDULE = "change the count schedule"
    UPLOAD_FILES = "upload files"
    FORCE_LOADS = "force a refused load"


ALLOWED: dict[Role, frozenset[Action]] = {
    Role.VIEWER: frozenset(),
    Role.COUNTER: frozenset({Action.ENTER_COUNTS}),
    Role.MANAGER: frozenset(Action),
}


class AccessDenied(PermissionError):
    """The user's role does not allow this; the message says who, what and which role would."""


@dataclass(frozen=True)
class User:
    name: str
    role: Role

    @classmethod
    def system(cls, name: str = "wics") -> User:
        """The CLI, Dagster runs and tests of the domain: trusted, recorded under ``name``."""
        return cls(name=name, role=Role.MANAGER)

    def may(self, action: Action) -> bool:
        return action in ALLOWED[self.role]


def require(user: User, action: Action) -> None:
    """Raise AccessDenied unless ``user`` may do ``action``."""
    if not isinstance(user, User):
        raise AccessDenied(f"{action.value} needs a signed-in user, not {user!r}")
    if not user.may(action):
        needed = next(role for role in Role if action in ALLOWED[role])
        raise AccessDenied(
            f"{user.name} is a {user.role.value} and may not {action.value} "
            f"(a {needed.value} may)"
        )


def require_owner_or(user: User, owner: str | None, action: Action) -> None:
    """Counters change their own entries; changing someone else's needs ``action``."""
    require(user, Action.ENTER_COUNTS)
    if owner != user.name:
        require(user, action)
