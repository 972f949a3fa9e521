"""Progress lines: at each tenth of a known total, at least every ``every_s`` seconds, never too often."""

import functools

import wme_assets.enrichment.run as enrich
import wme_assets.enrichment.steps as enrich_steps
from wme_assets.util.progress import Progress


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_line_at_each_tenth_of_a_known_total():
    clock, lines = Clock(), []
    progress = Progress("enriching xwiki", 1000, lines.append, clock=clock, min_gap_s=0)
    for _ in range(1000):
        clock.now += 0.01
        progress.advance()
    assert len(lines) == 9  # 10%, 20% ... 90%; the stage's own summary line says 100%
    assert lines[0] == "enriching xwiki: 100 of 1,000 pages (10%), 100 pages/s, about 9 s left"
    assert lines[-1].startswith("enriching xwiki: 900 of 1,000 pages (90%)")


def test_time_based_lines_without_a_total_and_no_line_when_nothing_moves():
    clock, lines = Clock(), []
    progress = Progress("parsing", None, lines.append, unit="streams", every_s=60, clock=clock)
    for _ in range(10):
        clock.now += 30
        progress.update(progress.done + 3)
        progress.update(progress.done)  # no new work: never logged
    assert lines == [f"parsing: {n:,} streams, 0 streams/s" for n in (6, 12, 18, 24, 30)]


def test_lines_are_rate_limited_and_eta_is_readable():
    clock, lines = Clock(), []
    progress = Progress("exporting", 10_000_000, lines.append, unit="articles", clock=clock, min_gap_s=5)
    progress.update(2_000_000)  # two tenths at once, but at t=0: too soon after the start
    clock.now = 3600
    progress.update(3_000_000)
    assert lines == ["exporting: 3,000,000 of 10,000,000 articles (30%), 833 articles/s, about 2.3 h left"]


def test_enrichment_logs_its_progress(object_store, fixtures_dir, tmp_path, monkeypatch):
    from wme_assets.devtools.mirror import build_dumps_mirror
    from wme_assets_tests.chain import ingest_from_mirror
    from wme_assets_tests.paths import DUMP_DATE as DATE

    monkeypatch.setattr(enrich_steps, "Progress", functools.partial(Progress, min_gap_s=0))
    build_dumps_mirror(
        tmp_path / "mirror",
        "bnwiki",
        DATE,
        fixtures_dir / "xztextfilter-truncated-dumps" / "bnwiki-truncated-100k.xml.xz",
    )
    ingest_from_mirror(object_store, tmp_path / "mirror", "bnwiki", DATE)
    lines: list[str] = []
    enrich.enrich_pages(object_store, "bnwiki", DATE, run_id="progress", workers=1, log=lines.append)
    # One step here (the run is small): the step's lines, each tenth of its pages.
    progress = [line for line in lines if line.startswith(f"enriching bnwiki {DATE} step 0: ")]
    assert len(progress) == 9, lines
    assert progress[0].startswith(f"enriching bnwiki {DATE} step 0: 73 of 722 pages (10%)")
