"""Publishing a day's snapshots as a dumps-site run: Wikimedia's ``other/enterprise_html`` layout, done right.

Wikimedia publishes Enterprise HTML dumps at (reference notes, ``enterprise-formats.md`` §5.3)::

    https://dumps.wikimedia.org/other/enterprise_html/runs/{YYYYMMDD}/{dbname}-NS{ns}-{YYYYMMDD}-ENTERPRISE-HTML.json.tar.gz

and nothing else in that directory: no checksum files and no status, so a downloader cannot tell a finished
file from one still being written (organicmaps' ``download.sh`` HEAD-probes and hopes). :func:`publish_run`
writes the same layout to a target's root (the root a web server serves, or an S3 prefix a mirror syncs),
plus what it lacks::

    other/enterprise_html/runs/{YYYYMMDD}/
        {dbname}-NS{ns}-{YYYYMMDD}-ENTERPRISE-HTML.json.tar.gz   the snapshot archive, byte for byte
        md5sums.txt      "{md5}  {file name}\\n" per done file, sorted by name  (md5sum -c md5sums.txt)
        sha256sums.txt   "{sha256}  {file name}\\n" per done file                (sha256sum -c sha256sums.txt)
        status.json      the run's state, in the spirit of the XML dumps' dumpstatus.json

Each file is the ``snapshots/{date}/{dbname}_namespace_{ns}.tar.gz`` archive of that date
(:mod:`wme_assets.snapshots.publish`; ``tier="free"`` takes the ``_group_1`` copies instead), unchanged: tar
members ``{dbname}_namespace_{ns}_{n}.ndjson`` of Enterprise article records, as in Wikimedia's runs.

``status.json`` (``dumpstatus.json`` has ``jobs{status, updated, files{size, url, md5, sha1}}``, version
"0.8"; a run here has one file per job, so files are listed directly)::

    {"version": "1.0", "run": "20250101", "tier": "paid", "status": "done", "updated": "2025-01-01 03:04:05",
     "files": {
       "enwiki-NS0-20250101-ENTERPRISE-HTML.json.tar.gz": {
         "status": "done", "updated": "2025-01-01 03:04:01",
         "url": "/other/enterprise_html/runs/20250101/enwiki-NS0-20250101-ENTERPRISE-HTML.json.tar.gz",
         "dbname": "enwiki", "namespace": 0, "size": 123456, "md5": "…", "sha256": "…",
         "record_count": 5, "source": "snapshots/20250101/enwiki_namespace_0.manifest.json"},
       "frwiki-NS0-…": {"status": "in-progress", "updated": …, "url": …, "dbname": …, "namespace": 0, "source": …},
       "dewiki-NS0-…": {"status": "failed", …, "reason": "snapshots/…tar.gz: sha256 is …, manifest says …"},
       "enwiki-NS6-…": {"status": "skipped", …, "reason": "the snapshot has no records"}}}

- Run ``status``: ``in-progress`` while :func:`publish_run` is changing anything; ``done`` when every file is
  ``done`` (or ``skipped``); ``failed`` when the run finished but some snapshot failed verification (every
  other file is done and usable; a re-run once the snapshot is fixed publishes it and turns the run ``done``).
- File ``status``: ``done`` (complete at the target and verified; size and checksums given, and listed in
  the sums files), ``in-progress`` (being copied, or waiting to be: no size or checksums, as dumpstatus.json
  gives none before a job ends), ``failed`` (its snapshot failed verification: never copied, ``reason``
  says why), ``skipped`` (a snapshot without records: nothing to download, as Enterprise's listing leaves
  zero-size snapshots out). ``updated`` ("YYYY-MM-DD HH:MM:SS" UTC, dumpstatus.json's format) is when that
  entry last changed, so it does not move on a re-run that changes nothing.
- ``url`` is site-absolute, as in dumpstatus.json. ``source`` names the snapshot manifest (relative to the
  source store's prefix) the file was verified against.

What a downloader may rely on:

- **Done means complete and verified.** Every source snapshot is verified first
  (:func:`~wme_assets.snapshots.publish.verify_published`); one that fails is never copied. Each archive is
  then streamed (ranged GETs, a few MiB in memory) to a temporary name at the target, its bytes hashed on
  the way against the manifest's size, SHA-256 and MD5 (a source that changed after verification is caught
  here, before anything becomes visible), verified where it landed, and only then moved to its final name
  (S3: staged object, verified, server-side copy; local: temporary file in the same directory, fsync,
  re-read, ``os.replace``). Only after that is it marked ``done`` in ``status.json``; ``status.json`` is
  rewritten (atomically) after every file; the sums files, which list only done files, are written at the
  end, and ``status.json`` with the run ``done`` last of all.
- **Interrupted means not done.** A failure half way leaves the file ``in-progress`` (the final name either
  absent or still the previous, verified bytes) and the run ``in-progress``; a re-run redoes the file whole
  (uploads are not resumed mid-file; the snapshot's chunks are the unit for that) and completes the run.
  A file that is about to be replaced is first taken out of the sums files.
- **Nothing changed, nothing written.** A file already at the target with the manifest's size and SHA-256
  (S3: the ``sha256`` metadata ``ObjectStore`` records; local: the file re-hashed) is not copied again, and
  ``status.json`` and the sums files are rewritten only when their bytes would change.

Decisions: a snapshot that fails verification is listed as ``failed`` with its reason rather than left
out, so a mirror knows the run is missing it on purpose (and the run does not look complete). Its file is
not listed as done even when an earlier run published it while it still verified: the status says what the
sources verify to now; the old bytes are left in place (a mirror may be downloading them), outside the sums.
Files of an earlier run whose snapshot is gone from the source (retention) stay listed while the target
still holds their verified bytes. One writer per run directory: concurrent publishes of one date are not
coordinated.

Where it lives (this package re-exports what other code imports):

- :mod:`.status`: the run directory's names and URLs, the ``status.json`` model, the sums files, the errors;
- :mod:`.targets`: the S3 and local-directory targets;
- :mod:`.publish`: :func:`publish_run`.
"""

from wme_assets.publishing.dumps_site.publish import PublishedRun, publish_run
from wme_assets.publishing.dumps_site.status import (
    MD5SUMS_FILE,
    RUNS_ROOT,
    SHA256SUMS_FILE,
    STATUS_FILE,
    DumpsSiteError,
    FileStatus,
    RunStatus,
    SourceMismatchError,
    TargetVerificationError,
    dump_file_name,
    dump_file_url,
    read_run_status,
    run_directory,
    sums_file,
)
from wme_assets.publishing.dumps_site.targets import DumpsSiteTarget, LocalDirTarget, S3Target

__all__ = [
    "MD5SUMS_FILE",
    "RUNS_ROOT",
    "SHA256SUMS_FILE",
    "STATUS_FILE",
    "DumpsSiteError",
    "DumpsSiteTarget",
    "FileStatus",
    "LocalDirTarget",
    "PublishedRun",
    "RunStatus",
    "S3Target",
    "SourceMismatchError",
    "TargetVerificationError",
    "dump_file_name",
    "dump_file_url",
    "publish_run",
    "read_run_status",
    "run_directory",
    "sums_file",
]
