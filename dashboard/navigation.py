"""The dashboard's pages, each with the lowest role that sees it: adding a page is one line.

Pages hide what a role cannot do; the write functions refuse it anyway (pipelines/access.py).
A page whose file does not exist yet is left out, so pages can arrive one change at a time.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from pipelines.access import Role, User

DASHBOARD = Path(__file__).resolve().parent
ROLE_ORDER = list(Role)  # viewer < counter < manager


class PageSpec(NamedTuple):
    path: str  # relative to dashboard/ (or absolute)
    title: str
    icon: str
    lowest_role: Role
    default: bool = False


PAGES: list[PageSpec] = [
    PageSpec("app_pages/overview.py", "Overview", ":material/warehouse:", Role.VIEWER,
             default=True),
    PageSpec("app_pages/count_schedule.py", "Count schedule", ":material/calendar_month:",
             Role.VIEWER),
    PageSpec("app_pages/count_entry.py", "Count entry", ":material/edit_note:", Role.COUNTER),
    PageSpec("app_pages/variances.py", "Variances", ":material/difference:", Role.VIEWER),
    PageSpec("app_pages/materials.py", "Materials", ":material/category:", Role.VIEWER),
    PageSpec("app_pages/counts.py", "Counts", ":material/fact_check:", Role.VIEWER),
    PageSpec("app_pages/loads.py", "SAP loads", ":material/upload_file:", Role.VIEWER),
]


def sees(user: User, page: PageSpec) -> bool:
    return ROLE_ORDER.index(user.role) >= ROLE_ORDER.index(page.lowest_role)


def pages_for(user: User, pages: list[PageSpec] | None = None) -> list[PageSpec]:
    """The pages ``user`` sees, in table order, leaving out files not written yet."""
    return [page for page in (PAGES if pages is None else pages)
            if sees(user, page) and (DASHBOARD / page.path).is_file()]
