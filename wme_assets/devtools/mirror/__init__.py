"""Build a local mirror of dumps.wikimedia.org from real MediaWiki XML exports.

wme reads Wikimedia dumps over HTTP from ``WME_DUMPS_URL``, laid out as ``{base}/{dbname}/{YYYYMMDD}/``
exactly like the dumps site. Development and CI machines have no internet, and some operators keep a local
mirror, so this package writes such a run directory from real XML exports; any static web server on
loopback then stands in for the dumps site::

    wme mirror fixtures /tmp/dumps-mirror                           # builds the fixture mirror
    python -m http.server --bind 127.0.0.1 --directory /tmp/dumps-mirror 8765
    WME_DUMPS_URL=http://127.0.0.1:8765 wme ...

What a run directory holds, file names and formats as the dumps site publishes them (the sources are the
dump scripts in GitHub ``wikimedia/operations-dumps``, ``xmldumps-backup/``, and ``recompressxml`` in
``wikimedia/operations-dumps-mwbzutils``):

- ``{db}-{date}-pages-articles-multistream.xml.bz2`` + ``...-multistream-index.txt.bz2`` (job
  ``articlesmultistreamdump``) for a wiki dumped in one part. A wiki dumped in parts gets
  ``{db}-{date}-pages-articles-multistream{n}.xml-p{first}p{last}.bz2`` +
  ``{db}-{date}-pages-articles-multistream-index{n}.txt-p{first}p{last}.bz2`` from
  ``articlesmultistreamdump`` and the single recombined pair from ``articlesmultistreamdumprecombine``
  (``dumps/fileutils.py`` ``DumpFilename.new_filename``; ``dumps/dumpitemlist.py`` adds the recombine
  jobs only when parts are enabled).
- The multistream layout of ``recompressxml --pagesperstream 100``: the ``<mediawiki>``…``</siteinfo>``
  header is one bz2 stream, every 100 pages one stream, ``</mediawiki>`` the last stream; index lines are
  ``{offset of the page's stream}:{page id}:{title as written in the XML}`` in one bz2 stream.
- ``{db}-{date}-page_props.sql.gz`` (job ``pagepropstable``, ``default_tables.yaml``): a mysqldump of
  ``page_props`` with the production ``CREATE TABLE``; optionally more tables
  (``{db}-{date}-{table}.sql.gz`` in job ``{table without underscores}table``: categorylinks, templatelinks,
  linktarget, page_restrictions, user_groups, wbc_entity_usage), link tables in either shape MediaWiki has
  shipped.
- ``dumpstatus.json`` (``dumps/runstatusapi.py``, version ``"0.8"``): per job ``status``, ``updated`` and
  ``files`` with ``size``, ``url``, ``md5``, ``sha1``; checksums exist only once a job is done
  (``runnerutils.py`` checksums files after each job).
- ``{db}-{date}-md5sums.txt`` and ``{db}-{date}-sha1sums.txt``: ``{hex}  {file name}`` lines
  (``dumps/checksummers.py``).

The mirror holds only real, complete pages: :func:`complete_pages_xml` cuts a truncated export at its last
complete ``</page>``. Real Wikimedia Enterprise article records (wikitext + revision metadata + Wikidata QID)
become an export with :func:`export_xml_from_enterprise_records`, so their page_props are real too.

Modules: :mod:`.multistream` (cutting an export at its last complete page, and the multistream writer —
the only one; the runtime package only reads multistream dumps), :mod:`.sql_tables` (the
tables' mysqldumps), :mod:`.run` (a run directory: the jobs' files, dumpstatus.json and the sums
files), :mod:`.enterprise` (Wikimedia Enterprise article records -> XML export and page_props) and
:mod:`.fixtures` (the offline demo mirror of the shared fixtures). Development and test tooling: the
Dagster code location never imports it.
"""

from .enterprise import (
    enterprise_dump_date,
    export_xml_from_enterprise_records,
    mediawiki_sha1,
    page_props_from_enterprise_records,
    read_enterprise_records,
    tables_from_enterprise_records,
)
from .fixtures import XZTEXTFILTER_DATE, XZTEXTFILTER_WIKIS, build_fixture_mirror
from .multistream import MultistreamWriteResult, _read_export, complete_pages_xml, write_multistream
from .run import (
    JOB_MULTISTREAM,
    JOB_MULTISTREAM_RECOMBINE,
    JOB_PAGE_PROPS,
    MirrorFile,
    MirrorRun,
    build_dumps_mirror,
)
from .sql_tables import TABLE_JOBS, mysqldump_table, table_columns

__all__ = [
    "JOB_MULTISTREAM",
    "JOB_MULTISTREAM_RECOMBINE",
    "JOB_PAGE_PROPS",
    "TABLE_JOBS",
    "XZTEXTFILTER_DATE",
    "XZTEXTFILTER_WIKIS",
    "MirrorFile",
    "MirrorRun",
    "MultistreamWriteResult",
    "_read_export",
    "build_dumps_mirror",
    "build_fixture_mirror",
    "complete_pages_xml",
    "enterprise_dump_date",
    "export_xml_from_enterprise_records",
    "mediawiki_sha1",
    "mysqldump_table",
    "page_props_from_enterprise_records",
    "read_enterprise_records",
    "table_columns",
    "tables_from_enterprise_records",
    "write_multistream",
]
