"""What arrives on the summarize queue, sorted at the edge: a `SummarizeRequest` goes to the
worker as it is; an S3 notification of uploaded files becomes one request per file (the
upload's arrival recorded first), so the worker only ever sees summarize requests."""

from __future__ import annotations

from docsum.intake.uploads import UploadArrivals
from docsum.platform.delivery import Delivery
from docsum.platform.observability import logger
from docsum.worker.outcomes import Outcome
from docsum.worker.s3_events import s3_event_files
from docsum.worker.summarize import SummarizeWorker


class SummarizeQueueConsumer:
    def __init__(self, worker: SummarizeWorker, arrivals: UploadArrivals) -> None:
        self.worker = worker
        self._arrivals = arrivals

    def consume(self, delivery: Delivery, lease_seconds: float) -> Outcome:
        arrived = s3_event_files(delivery.body)
        if arrived is None:
            return self.worker.process(delivery, lease_seconds)
        if not arrived:
            logger.info("S3 test event consumed")
        outcome = Outcome.IGNORED
        for file in arrived:
            request = self._arrivals.arrived(file.key, file.size, file.version)
            if request is None:
                outcome = Outcome.IGNORED
                continue
            outcome = self.worker.process_request(request, delivery, lease_seconds)
        return outcome
