"""The ``page_props`` table of a mirror run, written as MariaDB's mysqldump writes it.

One ``wikibase_item`` row per page, under the production ``CREATE TABLE``, in extended INSERTs cut
where mysqldump cuts them; gzipped without a name or time stamp, so a rebuild gives the same bytes.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Mapping

# mysqldump starts a new extended INSERT when the statement reaches net_buffer_length (1 MB by default).
_SQL_STATEMENT_BYTES = 1_000_000

_MYSQL_ESCAPES = {"\\": "\\\\", "'": "\\'", '"': '\\"', "\0": "\\0", "\n": "\\n", "\r": "\\r", "\x1a": "\\Z"}

# The production table definition, as in enwiki's page_props.sql.gz (MariaDB 10.11 dump).
_PAGE_PROPS_CREATE = """\
DROP TABLE IF EXISTS `page_props`;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE `page_props` (
  `pp_page` int(10) unsigned NOT NULL,
  `pp_propname` varbinary(60) NOT NULL DEFAULT '',
  `pp_value` blob NOT NULL,
  `pp_sortkey` float DEFAULT NULL,
  PRIMARY KEY (`pp_page`,`pp_propname`),
  UNIQUE KEY `pp_propname_page` (`pp_propname`,`pp_page`),
  UNIQUE KEY `pp_propname_sortkey_page` (`pp_propname`,`pp_sortkey`,`pp_page`)
) ENGINE=InnoDB DEFAULT CHARSET=binary ROW_FORMAT=COMPRESSED;
/*!40101 SET character_set_client = @saved_cs_client */;
"""

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


def _mysql_string(value: str) -> str:
    return "'" + "".join(_MYSQL_ESCAPES.get(ch, ch) for ch in value) + "'"


def _page_props_sql(dbname: str, page_props: Mapping[int, str], completed: str) -> bytes:
    """A mysqldump of ``page_props`` holding one ``wikibase_item`` row per page, in primary-key order."""
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
    out.write("\n--\n-- Table structure for table `page_props`\n--\n\n")
    out.write(_PAGE_PROPS_CREATE)
    out.write("\n--\n-- Dumping data for table `page_props`\n--\n\n")
    out.write("/*!40000 ALTER TABLE `page_props` DISABLE KEYS */;\n")
    statement: list[str] = []
    statement_bytes = 0
    for page_id in sorted(page_props):
        row = f"({int(page_id)},'wikibase_item',{_mysql_string(page_props[page_id])},NULL)"
        if statement and statement_bytes + len(row) > _SQL_STATEMENT_BYTES:
            out.write("INSERT INTO `page_props` VALUES " + ",".join(statement) + ";\n")
            statement, statement_bytes = [], 0
        statement.append(row)
        statement_bytes += len(row) + 1
    if statement:
        out.write("INSERT INTO `page_props` VALUES " + ",".join(statement) + ";\n")
    out.write("/*!40000 ALTER TABLE `page_props` ENABLE KEYS */;\n")
    out.write(_MYSQLDUMP_EPILOGUE)
    out.write(f"\n-- Dump completed on {completed}\n")
    return out.getvalue().encode("utf-8")


def _gzip_bytes(data: bytes) -> bytes:
    buffer = io.BytesIO()
    # mtime=0 and no file name: rebuilding a mirror from the same input gives the same bytes and checksums.
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0) as gz:
        gz.write(data)
    return buffer.getvalue()

