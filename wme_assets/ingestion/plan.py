"""The steps of a dumps run's parsing, planned from its dumpstatus.json alone.

A run's pages are parsed in steps that are independent of each other: one per multistream file, and a file
larger than ``step_bytes`` (compressed) is cut into page ranges of its bz2 streams, so no step grows with the
dump. The plan is a function of the run (its files and their sizes) and of ``step_bytes``, never of how many
processes or machines run it: the page store's parts are numbered by step, so a run split over many
processes publishes the same bytes as one process running the steps one after another.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from wme_assets.sources.dumps_client import CONTENT_JOB, DumpRunStatus, DumpsError
from wme_assets.util.sizes import MiB

# Compressed bytes of one step at most: ~4x that of XML, parsed by one step process (with its parse workers).
STEP_COMPRESSED_BYTES = 64 * MiB
# The part files of one step are numbered part-{step:05d}{file:03d}.parquet: names sort in page store order.
MAX_STEPS = 100_000
MAX_FILES_PER_STEP = 1_000

# `{db}-{date}-pages-articles-multistream[N].xml[-pApB].bz2` and its index
# `{db}-{date}-pages-articles-multistream-index[N].txt[-pApB].bz2`, paired by part number and range.
_CONTENT = re.compile(r"-pages-articles-multistream(?P<part>\d*)\.xml(?P<range>-p\d+p\d+)?\.bz2$")
_INDEX = re.compile(r"-pages-articles-multistream-index(?P<part>\d*)\.txt(?P<range>-p\d+p\d+)?\.bz2$")


@dataclass(frozen=True)
class MultistreamPart:
    dump_name: str
    index_name: str


@dataclass(frozen=True)
class ParseStep:
    """One step: the streams ``[slice * n // slices, (slice + 1) * n // slices)`` of a file of n streams."""

    number: int  # position in the plan, i.e. in the page store
    dump_name: str
    index_name: str
    dump_size: int | None
    slice: int = 0
    slices: int = 1

    @property
    def key(self) -> str:
        """A name for the step (Dagster's mapping key): letters, digits and underscores."""
        return f"step_{self.number:05d}"

    def streams(self, count: int) -> tuple[int, int]:
        """The step's ``(first, stop)`` among a file's ``count`` streams (empty when the file has fewer
        streams than slices)."""
        return self.slice * count // self.slices, (self.slice + 1) * count // self.slices

    def part_name(self, file: int) -> str:
        if file >= MAX_FILES_PER_STEP:
            raise ValueError(f"step {self.number} ({self.dump_name}) wrote more than {MAX_FILES_PER_STEP} files")
        return f"part-{self.number:05d}{file:03d}.parquet"

    def describe(self) -> str:
        where = f" (page range {self.slice + 1} of {self.slices})" if self.slices > 1 else ""
        return f"{self.dump_name}{where}"


def multistream_parts(status: DumpRunStatus, project: str, date: str) -> list[MultistreamPart]:
    """The run's multistream parts with their indexes, in part order (one pair on small wikis)."""
    files = status.jobs[CONTENT_JOB].files
    dumps, indexes = {}, {}
    for name in files:
        if match := _CONTENT.search(name):
            dumps[(int(match["part"] or 0), match["range"] or "")] = name
        elif match := _INDEX.search(name):
            indexes[(int(match["part"] or 0), match["range"] or "")] = name
    if not dumps or dumps.keys() != indexes.keys():
        raise DumpsError(
            f"{project} {date}: multistream parts and indexes do not pair up "
            f"(parts {sorted(dumps.values())}, indexes {sorted(indexes.values())})"
        )
    return [MultistreamPart(dumps[key], indexes[key]) for key in sorted(dumps)]


def plan_parse_steps(
    status: DumpRunStatus, project: str, date: str, *, step_bytes: int = STEP_COMPRESSED_BYTES
) -> list[ParseStep]:
    """The run's parse steps in page store order: each multistream file in ``ceil(size / step_bytes)`` page
    ranges (one when dumpstatus.json does not give its size)."""
    if step_bytes < 1:
        raise ValueError("step_bytes must be at least 1")
    files = status.jobs[CONTENT_JOB].files
    steps: list[ParseStep] = []
    for part in multistream_parts(status, project, date):
        size = files[part.dump_name].size
        slices = max(1, -(-size // step_bytes)) if size else 1
        for index in range(slices):
            steps.append(ParseStep(len(steps), part.dump_name, part.index_name, size, index, slices))
    if len(steps) > MAX_STEPS:
        raise ValueError(f"{project} {date}: {len(steps)} parse steps, more than {MAX_STEPS}: raise step_bytes")
    return steps
