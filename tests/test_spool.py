"""A spooled timeline (``chaosrunner.spool``): every sample, load statistic and write streamed to JSON
lines in the run folder, only the recent ones kept in memory, all of them back for the analysis."""
from __future__ import annotations

import json

from chaosrunner.timeline import LoadStat, Sample, Timeline, WriteRecord
from chaosrunner.writer import Writer, WriterSpec


def test_memory_keeps_the_recent_records_and_the_files_keep_all(tmp_path):
    tl = Timeline()
    tl.spool_to(tmp_path, keep=10.0)
    tl._spool.trim_every = 50                                   # trim often: a small test
    for i in range(1000):                                       # 100 s of samples, 10 a second
        t = i / 10
        tl.add_sample(Sample("p", t, t + 0.01, i % 7 != 0, {"status": 200}, None if i % 7 else "HTTP 503"))
        tl.add_write(WriteRecord(i, f"k{i}", t, t + 0.002 if i % 5 else None, None if i % 5 else "refused"))
        if i % 10 == 0:
            tl.add_load_stat(LoadStat(t, "Aggregated", 10, 1, 10.0, 1.0, 2.0, 3.0))
    assert len(tl.samples) <= 10 * 10 + 50 and tl.samples[-1].start == 99.9      # the last ~10 s only
    assert len(tl.writes) <= 150
    lines = (tmp_path / "samples.jsonl").read_text().splitlines()
    assert len(lines) >= 950                                    # streamed as they came (buffered by 64 KB)
    assert json.loads(lines[0])["start"] == 0.0
    tl.unspool()
    assert [s.start for s in tl.samples] == [i / 10 for i in range(1000)]
    assert tl.samples[7].ok is False and tl.samples[7].error == "HTTP 503" and tl.samples[1].value == {"status": 200}
    assert len(tl.writes) == 1000 and tl.writes[5].ack is None and tl.writes[5].error == "refused"
    assert len(tl.load_stats) == 100
    assert not list(tmp_path.glob("*.jsonl"))                   # removed once read back
    tl.add_sample(Sample("p", 200.0, 200.1, True))             # after: an ordinary timeline again
    assert tl.samples[-1].start == 200.0 and len(tl.samples) == 1001


def test_the_read_back_s_answer_is_kept_over_the_streamed_writes(tmp_path):
    tl = Timeline()
    tl.spool_to(tmp_path)
    for i in range(5):
        tl.add_write(WriteRecord(i, f"k{i}", i, i + 0.1))
    tl.replace_writes([WriteRecord(i, f"k{i}", i, i + 0.1, found="present") for i in range(5)])
    tl.unspool(remove=False)
    assert [w.found for w in tl.writes] == ["present"] * 5
    assert (tmp_path / "writes.jsonl").exists()               # kept when asked (a run that did not finish)


def test_the_writer_keeps_its_records_compactly_and_builds_them_on_demand():
    w = Writer(WriterSpec(type="http", url="http://127.0.0.1:9/kv", prefix="cr"))
    w.run_id = "r1"
    w._completed(2, 0.04, None, "refused")                     # completions come out of order
    w._completed(0, 0.0, 0.003, None)
    assert [(r.seq, r.key, r.sent, r.ack, r.error) for r in w.records] == [
        (0, "cr-r1-00000000", 0.0, 0.003, None), (2, "cr-r1-00000002", 0.04, None, "refused")]
    assert w._sent.itemsize == 8                               # 16 bytes a write, not an object
