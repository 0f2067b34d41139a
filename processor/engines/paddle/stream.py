"""Long-lived ``predict_iter`` calls fed the pages of every document in flight (``PageStreams``)."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

Predict = Callable[[list[np.ndarray]], Iterator[Any]]  # the pipeline's predict_iter, options bound


class Ticket:
    """One page in the stream: its pixels until answered, then its result or its error."""

    __slots__ = ("image", "result", "error", "submitted", "seconds", "_done")

    def __init__(self, image: np.ndarray) -> None:
        self.image: np.ndarray | None = image
        self.result: Any = None
        self.error: BaseException | None = None
        self.submitted = time.monotonic()
        self.seconds = 0.0
        self._done = threading.Event()

    def settle(self, result: Any = None, error: BaseException | None = None) -> None:
        self.result, self.error, self.image = result, error, None  # the pixels are no longer needed
        self.seconds = time.monotonic() - self.submitted
        self._done.set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    @property
    def done(self) -> bool:
        return self._done.is_set()


class _Feed(list):
    """What the pipeline iterates: tickets' pixels, as they are submitted, until ``stopped``."""

    def __init__(self, stream: PageStream) -> None:
        super().__init__()
        self.stream = stream
        self.stopped = False

    def __iter__(self) -> Iterator[np.ndarray]:  # type: ignore[override]
        while (ticket := self.stream._next_for(self)) is not None:
            assert ticket.image is not None
            yield ticket.image


class PageStreams:
    """Submit pages from any thread; each goes to the pipeline with the fewest pages inside.

    Why long-lived ``predict_iter`` calls for the pages of every document in flight: paddlex's queued pipeline overlaps page loading, layout detection and VL recognition in
    threads, and its VL worker sends whatever boxes arrived within 0.5 s as one batch. A call per
    document (or per 8 pages) pays that wait and drains the VL server's batch at every call's end; a
    long-lived call fed from a queue keeps the server's batch full (measured in bench/throughput.py).
    But that worker also waits for the whole batch to be answered before it collects the next: the
    server idles through every collection window and every batch's slowest request. So pages are
    spread over a few pipeline instances, each with its own call: while one
    collects, another is being answered.

    The feed is a ``list`` subclass whose iteration blocks on our queue: the pipeline's batch sampler
    accepts only lists. The pipeline is built with ``batch_size: 1`` (setup), so each page
    enters as soon as it is submitted instead of waiting for 64. Results come back in feeding order;
    each is handed to the ``Ticket`` at the head of ``_fed``. When the pipeline raises (its workers
    re-raise a page's error and end the whole call), the pages fed but not answered are run again one
    at a time, so a bad page fails alone, and the stream restarts for the rest.

    ``limit`` pages may be inside all of them at once (submitted, not yet answered): ``submit``
    blocks beyond it, which bounds the pixels held and keeps a VL server's batch full without
    flooding it."""

    def __init__(self, predicts: list[Predict], limit: int) -> None:
        self._slots = threading.BoundedSemaphore(limit)
        self._lock = threading.Lock()
        self.streams = [PageStream(predict, self._slots) for predict in predicts]

    def submit(self, image: np.ndarray) -> Ticket:
        self._slots.acquire()
        with self._lock:
            stream = min(self.streams, key=lambda s: s.inside)
            try:
                return stream.enqueue(image)
            except BaseException:
                self._slots.release()
                raise

    def close(self) -> None:
        for stream in self.streams:
            stream.close()


class PageStream:
    """One pipeline call over the pages enqueued, run by one thread; a slot of ``slots`` is
    released as each page is answered."""

    def __init__(self, predict: Predict, slots: threading.BoundedSemaphore) -> None:
        self._predict = predict
        self._slots = slots
        self._cond = threading.Condition()
        self._waiting: deque[Ticket] = deque()  # submitted, not yet taken by the pipeline
        self._fed: deque[Ticket] = deque()  # taken by the pipeline, in order, not yet answered
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="paddle-stream", daemon=True)
        self._thread.start()

    @property
    def inside(self) -> int:
        """Pages enqueued and not yet answered."""
        return len(self._waiting) + len(self._fed)

    def enqueue(self, image: np.ndarray) -> Ticket:
        ticket = Ticket(image)
        with self._cond:
            if self._closed:
                raise RuntimeError("the page stream is closed")
            self._waiting.append(ticket)
            self._cond.notify_all()
        return ticket

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout=10)

    # ------------------------------------------------------------------ the pipeline's side
    def _next_for(self, feed: _Feed) -> Ticket | None:
        with self._cond:
            while not self._waiting and not self._closed and not feed.stopped:
                self._cond.wait(0.5)
            if feed.stopped or self._closed:
                return None
            ticket = self._waiting.popleft()
            self._fed.append(ticket)  # before the pipeline sees it: results come back in this order
            return ticket

    def _run(self) -> None:
        while not self._closed:
            feed = _Feed(self)
            try:
                for result in self._predict(feed):
                    self._answer(result)
            except Exception as exc:  # noqa: BLE001 - one page's error ended the call; isolate it
                with self._cond:
                    feed.stopped = True  # the pipeline's input thread may still be waiting on us
                    orphans = list(self._fed)
                    self._fed.clear()
                log.warning("the page stream broke (%s); %d page(s) are tried alone", type(exc).__name__, len(orphans))
                for ticket in orphans:
                    self._alone(ticket)

    def _answer(self, result: Any) -> None:
        with self._cond:
            ticket = self._fed.popleft()
        if isinstance(result, dict) and "error" in result and "parsing_res_list" not in result:
            ticket.settle(error=RuntimeError(str(result["error"])))
        else:
            ticket.settle(result)
        self._slots.release()

    def _alone(self, ticket: Ticket) -> None:
        try:
            assert ticket.image is not None
            results = list(self._predict([ticket.image]))
            if len(results) != 1:
                raise RuntimeError(f"the pipeline returned {len(results)} results for one page")
            with self._cond:
                self._fed.append(ticket)
            self._answer(results[0])
        except Exception as exc:  # noqa: BLE001 - the page's own failure, recorded on it
            ticket.settle(error=exc)
            self._slots.release()
