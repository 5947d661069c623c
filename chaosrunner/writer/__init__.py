"""The data-integrity writer (``writer:``): sequenced writes, read back to measure data loss.

    spec = WriterSpec.model_validate({"type": "postgres", "dsn": "...", "rate": "50/s"})
    writer = Writer(spec)
    writer.start(timeline, run_id)      # before the first fault
    ...                                 # faults, recovery
    writer.stop(); writer.readback()    # after recovery; fills WriteRecord.found in the timeline
    if spec.cleanup: writer.cleanup()
    writer.close()

``chaosrunner.analyse.integrity`` turns the records into lost/duplicated/corrupted counts and RPO.
"""
from chaosrunner.writer.core import Writer, WriterError, make_sink, write_key, write_value
from chaosrunner.model.writer import WriterSpec
from chaosrunner.writer.sinks import Sink

__all__ = ["Sink", "Writer", "WriterError", "WriterSpec", "make_sink", "write_key", "write_value"]
