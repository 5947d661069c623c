"""Results of a run: ``RunResult`` (what ``run`` returns) and the ``RunRecord`` it is written as (run.json).

- ``record``: the typed record (schema chaosrunner/run/v2) and its published JSON Schema;
- ``document``: building the record from a run, writing run.json, reading it back;
- ``redaction``: what leaves a run, without secrets (the record, live records, the plan's words);
- ``migrate``: reading any version (v1 files are migrated on read);
- ``result``: ``RunResult``.
"""
from chaosrunner.results.document import (
    iso,
    new_run_id,
    plan_document,
    plan_record,
    read_run_record,
    run_document,
    versions,
    write_run_json,
)
from chaosrunner.results.migrate import RecordError, migrate_v1, run_record
from chaosrunner.results.record import RUN_SCHEMA, RUN_SCHEMA_V1, RunRecord
from chaosrunner.results.redaction import redacted, redacted_plan, redacted_record, redacting
from chaosrunner.results.result import RunResult

__all__ = ["RUN_SCHEMA", "RUN_SCHEMA_V1", "RecordError", "RunRecord", "RunResult", "iso", "migrate_v1",
           "new_run_id", "plan_document", "plan_record", "read_run_record", "redacted", "redacted_plan",
           "redacted_record", "redacting", "run_document", "run_record", "versions", "write_run_json"]
