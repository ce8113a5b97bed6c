"""Split one listing among N workers: disjoint page ranges whose union is every page.

    plan = await client.projects.split(4)            # one small request: the listing's size
    # in worker i, each with its own client (on a shared Redis state, see docs/ratelimit.md):
    async with client.projects.list(pages=plan.parts[i], limit=plan.limit, prefetch=4) as pager:
        async for project in pager:
            ...

A plan is a pure function of the listing's size (`meta.totalItems`), the page size and the
number of parts: `split_pages(total_pages, parts)` cuts pages 1..total_pages into `parts`
consecutive ranges whose lengths differ by at most one (some empty when there are fewer pages
than parts, so worker i always has `parts[i]`). `PageSplit` is frozen and pickles, so it can be
handed to worker processes as it is.

What "every item exactly once" holds under: page N is the same set of items for every reader,
which is true while the listing does not change between the plan and the last page read (the
server orders by id and cuts pages by offset). Items added at the end after the plan are not
read (the last part stops at the planned last page); an item deleted meanwhile shifts the later
ones back by one, so one item at each later page boundary can be missed, and an insert before
the end shifts them forward and repeats one. Plan and read a listing that is not being written
(an export of yesterday's data, say), or deduplicate by id and re-read what was added.
"""

from __future__ import annotations

import math

import attrs


def check_pages(pages: object, start_page: object) -> None:
    """Validate `list(pages=...)`: a `range` of page numbers >= 1, step 1, without `start_page`."""
    if not isinstance(pages, range):
        raise TypeError(f"pages must be a range of page numbers, e.g. range(1, 11), got {pages!r}")
    if pages.step != 1 or pages.start < 1:
        raise ValueError(f"pages must be a range of page numbers >= 1 with step 1, got {pages!r}")
    if start_page != 1:
        raise ValueError("give either pages=range(...) or start_page=..., not both")


def split_pages(total_pages: int, parts: int) -> tuple[range, ...]:
    """Pages 1..total_pages cut into `parts` consecutive ranges, sizes differing by at most one."""
    if isinstance(parts, bool) or not isinstance(parts, int) or parts < 1:
        raise ValueError(f"parts must be an integer >= 1 (the number of workers), got {parts!r}")
    if isinstance(total_pages, bool) or not isinstance(total_pages, int) or total_pages < 0:
        raise ValueError(f"total_pages must be an integer >= 0, got {total_pages!r}")
    base, extra = divmod(total_pages, parts)
    ranges = []
    start = 1
    for index in range(parts):
        size = base + (1 if index < extra else 0)
        ranges.append(range(start, start + size))
        start += size
    return tuple(ranges)


@attrs.frozen(slots=True)
class PageSplit:
    """A listing cut into `parts` for as many workers: read part i with
    `list(pages=plan.parts[i], limit=plan.limit)` (the page numbers mean these pages only at
    this `limit`)."""

    limit: int
    total_items: int
    total_pages: int
    parts: tuple[range, ...]

    @classmethod
    def plan(cls, total_items: int, limit: int, parts: int) -> PageSplit:
        """The plan for a listing of `total_items` read `limit` items per page."""
        total_pages = math.ceil(total_items / limit) if total_items > 0 else 0
        return cls(limit, total_items, total_pages, split_pages(total_pages, parts))
