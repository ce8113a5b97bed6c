"""When a paginated stream ends: a pure decision over each page, in the order pages are handed over.

No I/O and no clock (sans-I/O, like the envelope and header parsers): `PageRules.decide` takes
the page number that was asked for and the page that came back, and answers whether to hand it
over and go on, hand it over and stop, or stop with a `PaginationError`. The pager calls it once
per page; the tests drive it with plain values.

The rules, in order:

1. **The reply must be the page asked for.** A `meta.currentPage` other than the page requested
   means the server ignores `page` (or answers another list): `PaginationError`
   (`reason="page_mismatch"`).
2. **An empty page ends the stream.** Offset pagination has nothing past an empty page, whatever
   `meta.totalPages` claims; the empty page is handed over (`pages()` shows it), then the stream
   stops.
3. **A page that repeats the previous one** (the same items, by `id` where items have one, in
   the same order) ends the stream with `PaginationError` (`reason="repeated_page"`): the server
   serves one page whatever is asked, or the whole list shifted by a page while it was read.
4. **Progress.** A page none of whose items is new (all of them were on the last
   `RECENT_PAGES` pages) makes no progress. It is handed over, but more than
   `MAX_PAGES_WITHOUT_PROGRESS` of them in a row end the stream with `PaginationError`
   (`reason="no_progress"`): that bounds the requests a server cycling through the same few pages
   can draw. (A real list may show a page of already-seen items when items were inserted ahead of
   the reader; not several in a row.)
5. The stream ends after the page `meta.totalPages` names (as before these rules).

Memory stays bounded: the rules keep the item keys of the last `RECENT_PAGES` pages only.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Hashable, Sequence
from typing import Any, Final

from ._errors import PaginationError
from ._models import Page

RECENT_PAGES: Final = 4
MAX_PAGES_WITHOUT_PROGRESS: Final = 2


class Decision(enum.Enum):
    CONTINUE = "continue"  # hand the page over, then fetch the next
    LAST = "last"  # hand the page over, then stop


def _key(item: Any) -> Hashable:
    """What identifies an item: its `id` when it has one, else the item itself (attrs models are
    hashable), else its identity (never equal across pages: such items always count as new)."""
    key = getattr(item, "id", None)
    if key is not None and isinstance(key, Hashable):
        return key
    return item if isinstance(item, Hashable) else ("object", id(item))


class PageRules:
    """The state of one stream's termination rules: feed it every page, in order."""

    __slots__ = ("_previous", "_recent", "_stale")

    def __init__(self) -> None:
        self._previous: tuple[Hashable, ...] | None = None
        self._recent: deque[frozenset[Hashable]] = deque(maxlen=RECENT_PAGES)
        self._stale = 0  # pages in a row without a new item

    def decide(self, asked: int, page: Page[Any]) -> Decision:
        """What to do with `page`, the reply to a request for page number `asked`. Raises
        `PaginationError` when the stream must stop on an error."""
        meta = page.meta
        if meta.current_page != asked:
            raise PaginationError(
                f"asked for page {asked}, the server answered page {meta.current_page}: it does not "
                "honour the page parameter, so the stream stops here",
                page=asked,
                reason="page_mismatch",
            )
        items: Sequence[Any] = page.data
        if not items:
            return Decision.LAST
        keys = tuple(_key(item) for item in items)
        if keys == self._previous:
            raise PaginationError(
                f"page {asked} holds the same {len(keys)} items as page {asked - 1}: the server "
                "repeats a page (or the list shifted by a whole page while it was read)",
                page=asked,
                reason="repeated_page",
            )
        seen = frozenset(keys)
        if self._recent and seen <= frozenset().union(*self._recent):
            self._stale += 1
            if self._stale > MAX_PAGES_WITHOUT_PROGRESS:
                raise PaginationError(
                    f"pages {asked - self._stale + 1} to {asked} brought no item that was not on the "
                    f"pages just before: the server's pages make no progress",
                    page=asked,
                    reason="no_progress",
                )
        else:
            self._stale = 0
        self._previous = keys
        self._recent.append(seen)
        return Decision.LAST if asked >= meta.total_pages else Decision.CONTINUE
