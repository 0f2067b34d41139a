"""The shared page stream (processor/engines/paddle/stream.py): pages of several documents in one
``predict_iter``, each answer back to the page it belongs to, a bad page failing alone, and the
number of pages inside the pipeline bounded. A stand-in pipeline is used here; the real one runs
in tests/test_paddle_engine.py and the throughput bench."""

from __future__ import annotations

import queue
import threading
import time

import numpy as np
import pytest

from processor.engines.paddle.stream import PageStreams


class QueuedPipeline:
    """Iterates its input in a thread and answers in order, as paddlex's queued pipeline does:
    a page whose pixel value is 255 makes the whole call raise (its worker re-raises)."""

    def __init__(self) -> None:
        self.calls = 0
        self.inside = 0
        self.most_inside = 0
        self._lock = threading.Lock()

    def __call__(self, pages):
        self.calls += 1
        taken: queue.Queue = queue.Queue()

        def load() -> None:
            for image in pages:
                with self._lock:
                    self.inside += 1
                    self.most_inside = max(self.most_inside, self.inside)
                taken.put(image)
            taken.put(None)

        threading.Thread(target=load, daemon=True).start()
        while (image := taken.get()) is not None:
            time.sleep(0.002)
            with self._lock:
                self.inside -= 1
            if int(image[0, 0]) == 255:
                raise RuntimeError("Exception from the 'vlm' worker: bad page")
            yield {"parsing_res_list": [], "value": int(image[0, 0])}


def page(value: int) -> np.ndarray:
    return np.full((4, 4), value, dtype=np.uint8)


def test_pages_of_many_documents_come_back_to_their_own_tickets() -> None:
    pipeline = QueuedPipeline()
    stream = PageStreams([pipeline], limit=8)
    answers: dict[int, list[int]] = {}

    def document(doc: int) -> None:
        tickets = [stream.submit(page(doc * 10 + n)) for n in range(10)]
        answers[doc] = [t.result["value"] for t in tickets if t.wait(30)]

    try:
        threads = [threading.Thread(target=document, args=(d,)) for d in range(1, 6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    finally:
        stream.close()
    assert answers == {d: [d * 10 + n for n in range(10)] for d in range(1, 6)}
    assert pipeline.calls == 1  # one call for all 50 pages of 5 documents
    assert pipeline.most_inside <= 8  # the limit bounds the pages (and pixels) inside


def test_a_page_that_breaks_the_call_fails_alone_and_the_stream_goes_on() -> None:
    pipeline = QueuedPipeline()
    stream = PageStreams([pipeline], limit=4)
    try:
        tickets = [stream.submit(page(v)) for v in (1, 2, 255, 3)]
        tickets += [stream.submit(page(v)) for v in (4, 5)]
        assert all(t.wait(30) for t in tickets)
    finally:
        stream.close()
    assert [t.error is not None for t in tickets] == [False, False, True, False, False, False]
    assert "bad page" in str(tickets[2].error)
    assert [t.result["value"] for t in tickets if t.error is None] == [1, 2, 3, 4, 5]
    assert all(t.image is None for t in tickets)  # pixels are let go once answered


def test_an_error_result_fails_its_page_only() -> None:
    def pipeline(pages):
        for image in pages:
            yield {"error": "the input params for model settings are invalid!"} if image[0, 0] == 7 else {
                "parsing_res_list": []}

    stream = PageStreams([pipeline], limit=2)
    try:
        a, b, c = (stream.submit(page(v)) for v in (1, 7, 2))
        assert a.wait(10) and b.wait(10) and c.wait(10)
    finally:
        stream.close()
    assert a.error is None and c.error is None
    assert "invalid" in str(b.error)


def test_submit_after_close_is_refused() -> None:
    stream = PageStreams([lambda pages: iter(())], limit=1)
    stream.close()
    with pytest.raises(RuntimeError, match="closed"):
        stream.submit(page(1))


class BatchingPipeline:
    """paddlex's VL worker in miniature: collect what arrives within a window, answer that batch
    whole (the VL server's time), only then collect the next."""

    busy = 0  # batches being answered, over all instances
    most_busy = 0
    lock = threading.Lock()

    def __init__(self) -> None:
        self.pages = 0

    def __call__(self, pages):
        taken: queue.Queue = queue.Queue()
        threading.Thread(target=lambda: [taken.put(p) for p in pages] + [taken.put(None)], daemon=True).start()
        done = False
        while not done:
            batch = [taken.get()]
            deadline = time.monotonic() + 0.05
            while time.monotonic() < deadline:
                try:
                    batch.append(taken.get(timeout=max(deadline - time.monotonic(), 0.001)))
                except queue.Empty:
                    break
            done = any(p is None for p in batch)
            batch = [p for p in batch if p is not None]
            if not batch:
                continue
            with BatchingPipeline.lock:
                BatchingPipeline.busy += 1
                BatchingPipeline.most_busy = max(BatchingPipeline.most_busy, BatchingPipeline.busy)
            time.sleep(0.2)
            with BatchingPipeline.lock:
                BatchingPipeline.busy -= 1
            self.pages += len(batch)
            yield from ({"parsing_res_list": [], "value": int(p[0, 0])} for p in batch)


def test_pages_are_spread_over_pipelines_so_one_collects_while_another_is_answered() -> None:
    """With one pipeline the VL server idled while each batch was collected and while the slowest
    request of each batch ran: pipelines fed in turn keep a batch in the server meanwhile."""
    pipelines = [BatchingPipeline(), BatchingPipeline()]
    streams = PageStreams(pipelines, limit=6)
    tickets: list = []
    try:
        def document(doc: int) -> None:
            tickets.extend((doc * 10 + n, streams.submit(page(doc * 10 + n))) for n in range(6))

        threads = [threading.Thread(target=document, args=(d,)) for d in range(1, 5)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert all(t.wait(30) for _, t in tickets)
    finally:
        streams.close()
    assert all(t.result["value"] == value for value, t in tickets)
    assert all(p.pages > 0 for p in pipelines) and sum(p.pages for p in pipelines) == 24
    assert BatchingPipeline.most_busy == 2  # batches of both pipelines in the server at once
