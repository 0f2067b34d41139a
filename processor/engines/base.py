"""The engine seam: one module per engine, each an ``Engine`` built by ``create_engine``."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Iterator

from processor.document import Asset, EngineInfo, Page
from processor.options import ConvertOptions
from processor.source import OpenedInput, open_source
from processor.warmup import warm_up_pdf


class PageResult:
    """One converted page plus the figure crops its blocks reference. ``revised``: a page yielded
    before, now changed by a step over the whole document (the paddle engine's
    ``restructure_pages``); its figures went with the first version, so it carries none."""

    __slots__ = ("page", "assets", "revised")

    def __init__(self, page: Page, assets: list[Asset] | None = None, *, revised: bool = False) -> None:
        self.page = page
        self.assets = assets or []
        self.revised = revised

    def keeping_figures_of(self, first: PageResult | None) -> PageResult:
        """A revised page with the figures of its ``first`` version (they went with it)."""
        if not self.revised or first is None:
            return self
        return PageResult(self.page, first.assets, revised=True)


class Engine(ABC):
    """Turns an opened source into pages.

    ``load`` does the heavy, once-per-process work (models, worker pools) and may be
    slow; ``pages`` must yield every page of the source (or those numbered in ``only``),
    in order, and never raise for a single bad page: it yields that page with status
    ``failed`` and an error instead (``retryable`` when trying it again may help).
    """

    def __init__(self, options: ConvertOptions) -> None:
        self.options = options

    @property
    @abstractmethod
    def info(self) -> EngineInfo: ...

    @abstractmethod
    def load(self) -> None: ...

    @abstractmethod
    def pages(self, source: OpenedInput, only: Collection[int] | None = None) -> Iterator[PageResult]: ...

    def warm_up(self) -> None:
        """Convert one small generated page, so the first real document pays no start-up cost
        and readiness means 'has converted a page', not just 'has loaded'. (The pages alone:
        the engine is what ``processor.convert`` drives, never the other way round.)"""
        with open_source(warm_up_pdf(), self.options, name="warm-up.pdf") as source:
            for _ in self.pages(source):
                pass

    def close(self) -> None:
        """Release worker pools and models."""
