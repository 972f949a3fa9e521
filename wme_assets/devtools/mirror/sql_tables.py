"""The SQL tables of a mirror run, written as MariaDB's mysqldump writes them (``{db}-{date}-{table}.sql.gz``).

Each table under its production ``CREATE TABLE`` (column order as the production databases have it,
which is not always MediaWiki's own schema order), rows in extended INSERTs cut where mysqldump cuts
them; gzipped without a name or time stamp, so a rebuild gives the same bytes. The link tables come in
both shapes MediaWiki has shipped: ``names`` (the target's namespace and title in the row) and
``linktarget`` (an id into the ``linktarget`` table).
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterable, Mapping

__all__ = ["TABLE_JOBS", "TABLE_SHAPES", "mysqldump_table", "table_columns"]

# mysqldump starts a new extended INSERT when the statement reaches net_buffer_length (1 MB by default).
_SQL_STATEMENT_BYTES = 1_000_000

_MYSQL_ESCAPES = {"\\": "\\\\", "'": "\\'", '"': '\\"', "\0": "\\0", "\n": "\\n", "\r": "\\r", "\x1a": "\\Z"}

_BINARY = "ENGINE=InnoDB DEFAULT CHARSET=binary"
# The production table definitions (MariaDB 10.11 dumps of enwiki; the linktarget shape of categorylinks
# as MediaWiki 1.45 defines it). Key lines are kept short: readers take only the column lines.
_DEFINITIONS = {
    ("page_props", "names"): """\
  `pp_page` int(10) unsigned NOT NULL,
  `pp_propname` varbinary(60) NOT NULL DEFAULT '',
  `pp_value` blob NOT NULL,
  `pp_sortkey` float DEFAULT NULL,
  PRIMARY KEY (`pp_page`,`pp_propname`),
  UNIQUE KEY `pp_propname_page` (`pp_propname`,`pp_page`),
  UNIQUE KEY `pp_propname_sortkey_page` (`pp_propname`,`pp_sortkey`,`pp_page`)
) ENGINE=InnoDB DEFAULT CHARSET=binary ROW_FORMAT=COMPRESSED;""",
    ("categorylinks", "names"): f"""\
  `cl_from` int(8) unsigned NOT NULL DEFAULT 0,
  `cl_to` varbinary(255) NOT NULL DEFAULT '',
  `cl_sortkey` varbinary(230) NOT NULL DEFAULT '',
  `cl_timestamp` timestamp NOT NULL DEFAULT current_timestamp() ON UPDATE current_timestamp(),
  `cl_sortkey_prefix` varbinary(255) NOT NULL DEFAULT '',
  `cl_collation` varbinary(32) NOT NULL DEFAULT '',
  `cl_type` enum('page','subcat','file') NOT NULL DEFAULT 'page',
  PRIMARY KEY (`cl_from`,`cl_to`),
  KEY `cl_sortkey` (`cl_to`,`cl_type`,`cl_sortkey`,`cl_from`)
) {_BINARY};""",
    ("categorylinks", "linktarget"): f"""\
  `cl_from` int(8) unsigned NOT NULL DEFAULT 0,
  `cl_sortkey` varbinary(230) NOT NULL DEFAULT '',
  `cl_sortkey_prefix` varbinary(255) NOT NULL DEFAULT '',
  `cl_timestamp` timestamp NOT NULL,
  `cl_type` enum('page','subcat','file') NOT NULL DEFAULT 'page',
  `cl_collation_id` smallint(5) unsigned NOT NULL DEFAULT 0,
  `cl_target_id` bigint(20) unsigned NOT NULL,
  PRIMARY KEY (`cl_from`,`cl_target_id`)
) {_BINARY};""",
    ("templatelinks", "names"): f"""\
  `tl_from` int(8) unsigned NOT NULL DEFAULT 0,
  `tl_namespace` int(11) NOT NULL DEFAULT 0,
  `tl_title` varbinary(255) NOT NULL DEFAULT '',
  `tl_from_namespace` int(11) NOT NULL DEFAULT 0,
  PRIMARY KEY (`tl_from`,`tl_namespace`,`tl_title`)
) {_BINARY};""",
    ("templatelinks", "linktarget"): f"""\
  `tl_from` int(8) unsigned NOT NULL DEFAULT 0,
  `tl_target_id` bigint(20) unsigned NOT NULL,
  `tl_from_namespace` int(11) NOT NULL DEFAULT 0,
  PRIMARY KEY (`tl_from`,`tl_target_id`)
) {_BINARY};""",
    ("linktarget", "names"): f"""\
  `lt_id` bigint(20) unsigned NOT NULL AUTO_INCREMENT,
  `lt_namespace` int(11) NOT NULL,
  `lt_title` varbinary(255) NOT NULL,
  PRIMARY KEY (`lt_id`),
  UNIQUE KEY `lt_namespace_title` (`lt_namespace`,`lt_title`)
) {_BINARY};""",
    ("page_restrictions", "names"): f"""\
  `pr_page` int(8) NOT NULL,
  `pr_type` varbinary(60) NOT NULL,
  `pr_level` varbinary(60) NOT NULL,
  `pr_cascade` tinyint(4) NOT NULL,
  `pr_expiry` varbinary(14) DEFAULT NULL,
  `pr_id` int(10) unsigned NOT NULL AUTO_INCREMENT,
  PRIMARY KEY (`pr_id`),
  UNIQUE KEY `pr_pagetype` (`pr_page`,`pr_type`)
) {_BINARY};""",
    ("user_groups", "names"): f"""\
  `ug_user` int(5) unsigned NOT NULL DEFAULT 0,
  `ug_group` varbinary(255) NOT NULL DEFAULT '',
  `ug_expiry` varbinary(14) DEFAULT NULL,
  PRIMARY KEY (`ug_user`,`ug_group`)
) {_BINARY};""",
    # Wikibase client's usage tracking (extensions/Wikibase client/sql: row id first, the page id last).
    ("wbc_entity_usage", "names"): f"""\
  `eu_row_id` bigint(20) NOT NULL AUTO_INCREMENT,
  `eu_entity_id` varbinary(255) NOT NULL,
  `eu_aspect` varbinary(37) NOT NULL,
  `eu_page_id` int(11) NOT NULL,
  PRIMARY KEY (`eu_row_id`),
  UNIQUE KEY `eu_entity_id` (`eu_entity_id`,`eu_aspect`,`eu_page_id`),
  KEY `eu_page_id` (`eu_page_id`,`eu_entity_id`)
) {_BINARY};""",
}
TABLE_SHAPES = {table: sorted(shape for t, shape in _DEFINITIONS if t == table) for table, _ in _DEFINITIONS}
# The dump job of each table in dumpstatus.json (operations-dumps default_tables.yaml: the job, then "table").
TABLE_JOBS = {table: table.replace("_", "") + "table" for table in TABLE_SHAPES}


def table_columns(table: str, shape: str = "names") -> tuple[str, ...]:
    """The columns of ``table`` in its production order, in one of its shapes."""
    definition = _DEFINITIONS[(table, shape)]
    return tuple(line.split("`")[1] for line in definition.splitlines() if line.startswith("  `"))


_MYSQLDUMP_PROLOGUE = """\
/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;
/*!40101 SET @OLD_CHARACTER_SET_RESULTS=@@CHARACTER_SET_RESULTS */;
/*!40101 SET @OLD_COLLATION_CONNECTION=@@COLLATION_CONNECTION */;
/*!40101 SET NAMES utf8mb4 */;
/*!40103 SET @OLD_TIME_ZONE=@@TIME_ZONE */;
/*!40103 SET TIME_ZONE='+00:00' */;
/*!40014 SET @OLD_UNIQUE_CHECKS=@@UNIQUE_CHECKS, UNIQUE_CHECKS=0 */;
/*!40014 SET @OLD_FOREIGN_KEY_CHECKS=@@FOREIGN_KEY_CHECKS, FOREIGN_KEY_CHECKS=0 */;
/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */;
/*!40111 SET @OLD_SQL_NOTES=@@SQL_NOTES, SQL_NOTES=0 */;
"""

_MYSQLDUMP_EPILOGUE = """\
/*!40103 SET TIME_ZONE=@OLD_TIME_ZONE */;

/*!40101 SET SQL_MODE=@OLD_SQL_MODE */;
/*!40014 SET FOREIGN_KEY_CHECKS=@OLD_FOREIGN_KEY_CHECKS */;
/*!40014 SET UNIQUE_CHECKS=@OLD_UNIQUE_CHECKS */;
/*!40101 SET CHARACTER_SET_CLIENT=@OLD_CHARACTER_SET_CLIENT */;
/*!40101 SET CHARACTER_SET_RESULTS=@OLD_CHARACTER_SET_RESULTS */;
/*!40101 SET COLLATION_CONNECTION=@OLD_COLLATION_CONNECTION */;
/*!40111 SET SQL_NOTES=@OLD_SQL_NOTES */;
"""


def _mysql_value(value) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, bytes):
        value = value.decode("utf-8", "surrogateescape")
    return "'" + "".join(_MYSQL_ESCAPES.get(ch, ch) for ch in value) + "'"


def mysqldump_table(
    dbname: str, table: str, rows: Iterable[Mapping[str, object]], completed: str, *, shape: str = "names"
) -> bytes:
    """A mysqldump of ``table`` (in ``shape``) holding ``rows`` (column -> value; a missing column is NULL),
    in the order given (mysqldump writes primary-key order)."""
    columns = table_columns(table, shape)
    out = io.StringIO()
    # The "sandbox mode" line opens every dump made by MariaDB's mysqldump since 2024 (T369406);
    # clients that parse the real files must skip it, so the mirror has it too.
    out.write("/*M!999999\\- enable the sandbox mode */ \n")
    out.write("-- MariaDB dump 10.19  Distrib 10.5.29-MariaDB, for debian-linux-gnu (x86_64)\n--\n")
    out.write(f"-- Host: localhost    Database: {dbname}\n")
    out.write(
        "-- ------------------------------------------------------\n-- Server version\t10.11.13-MariaDB-log\n\n"
    )
    out.write(_MYSQLDUMP_PROLOGUE)
    out.write(f"\n--\n-- Table structure for table `{table}`\n--\n\n")
    out.write(f"DROP TABLE IF EXISTS `{table}`;\n")
    out.write("/*!40101 SET @saved_cs_client     = @@character_set_client */;\n")
    out.write("/*!40101 SET character_set_client = utf8mb4 */;\n")
    out.write(f"CREATE TABLE `{table}` (\n{_DEFINITIONS[(table, shape)]}\n")
    out.write("/*!40101 SET character_set_client = @saved_cs_client */;\n")
    out.write(f"\n--\n-- Dumping data for table `{table}`\n--\n\n")
    out.write(f"/*!40000 ALTER TABLE `{table}` DISABLE KEYS */;\n")
    insert = f"INSERT INTO `{table}` VALUES "
    statement: list[str] = []
    statement_bytes = 0
    for values in rows:
        row = "(" + ",".join(_mysql_value(values.get(c)) for c in columns) + ")"
        if statement and statement_bytes + len(row) > _SQL_STATEMENT_BYTES:
            out.write(insert + ",".join(statement) + ";\n")
            statement, statement_bytes = [], 0
        statement.append(row)
        statement_bytes += len(row) + 1
    if statement:
        out.write(insert + ",".join(statement) + ";\n")
    out.write(f"/*!40000 ALTER TABLE `{table}` ENABLE KEYS */;\n")
    out.write(_MYSQLDUMP_EPILOGUE)
    out.write(f"\n-- Dump completed on {completed}\n")
    return out.getvalue().encode("utf-8", "surrogateescape")


def _page_props_sql(dbname: str, page_props: Mapping[int, str], completed: str) -> bytes:
    """A mysqldump of ``page_props`` holding one ``wikibase_item`` row per page, in primary-key order."""
    rows = ({"pp_page": int(page_id), "pp_propname": "wikibase_item", "pp_value": page_props[page_id]}
            for page_id in sorted(page_props))
    return mysqldump_table(dbname, "page_props", rows, completed)


def _gzip_bytes(data: bytes) -> bytes:
    buffer = io.BytesIO()
    # mtime=0 and no file name: rebuilding a mirror from the same input gives the same bytes and checksums.
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0) as gz:
        gz.write(data)
    return buffer.getvalue()

