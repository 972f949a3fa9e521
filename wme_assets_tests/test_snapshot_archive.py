"""Snapshot archives and manifests on real Enterprise article records (synthetic data only for bad input).

The records are the 12 real Enterprise articles of ``wme-articles`` and the 3 of ``wme-sdk-testdata``,
serialized with orjson as NDJSON lines and grouped by project (their ``is_part_of.identifier``).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import lzma
import re
import subprocess
import tarfile
from pathlib import Path

import orjson
import pytest

from wme_assets.snapshots.archive import (
    BUFFER_SIZE,
    GZIP_HEADER,
    SnapshotFiles,
    language_from_dbname,
    write_snapshot,
)
from wme_assets.snapshots.manifest import (
    SnapshotManifest,
    build_manifest,
    chunk_metadata,
    listing_ndjson,
    snapshot_metadata,
    verify_snapshot_files,
)
from wme_assets_tests.records import load_real_records

DUMP_DATE = "20250101"
DUMP_DATE_EPOCH = 1735689600  # 2025-01-01T00:00:00Z
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$")


@pytest.fixture(scope="module")
def real_records(fixtures_dir) -> dict[str, list[tuple[int, bytes]]]:
    records = load_real_records()
    assert sum(len(group) for group in records.values()) == 15
    return records


@pytest.fixture(scope="module")
def enwiki(real_records) -> list[tuple[int, bytes]]:
    assert len(real_records["enwiki"]) == 5  # 4 wme-articles + the SDK's "Squirrel"
    return real_records["enwiki"]


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def greedy_members(records: list[tuple[int, bytes]], limit: int) -> list[list[int]]:
    """The reference partition: fill a member until the next line would exceed the limit."""
    members: list[list[int]] = []
    size = 0
    for page_id, line in records:
        if members and size + len(line) + 1 <= limit:
            members[-1].append(page_id)
            size += len(line) + 1
        else:
            members.append([page_id])
            size = len(line) + 1
    return members


def read_members(path: Path) -> list[tuple[tarfile.TarInfo, bytes]]:
    with tarfile.open(path, "r:gz") as tar:  # the standard library's reader
        return [(info, tar.extractfile(info).read()) for info in tar]


def ids_of(content: bytes) -> list[int]:
    return [orjson.loads(line)["identifier"] for line in content.splitlines()]


# --- reproducibility ------------------------------------------------------------------------------


def test_same_input_gives_same_bytes_whatever_the_threads(tmp_path, enwiki):
    runs = [
        write_snapshot(
            enwiki,
            tmp_path / f"run{threads}",
            dbname="enwiki",
            namespace=0,
            max_member_bytes=4_000_000,
            dump_date=DUMP_DATE,
            threads=threads,
        )
        for threads in (0, 1, 3)
    ]
    for files in runs:
        assert sha256_of(files.out_dir / files.archive.path) == files.archive.sha256
        assert hashlib.md5((files.out_dir / files.archive.path).read_bytes()).hexdigest() == files.archive.md5
        for chunk in files.chunks:
            assert sha256_of(files.out_dir / chunk.path) == chunk.sha256
    first = runs[0]
    for other in runs[1:]:
        assert other.archive.sha256 == first.archive.sha256
        assert [c.sha256 for c in other.chunks] == [c.sha256 for c in first.chunks]
        assert [m.sha256 for m in other.members] == [m.sha256 for m in first.members]
    # The gzip header carries no timestamp and no file name.
    head = (first.out_dir / first.archive.path).read_bytes()[:10]
    assert head == GZIP_HEADER
    assert head[3] == 0 and head[4:8] == b"\0\0\0\0"


def test_tar_headers_are_fixed_and_members_ordered(tmp_path, enwiki):
    files = write_snapshot(
        enwiki, tmp_path, dbname="enwiki", namespace=0, max_member_bytes=4_000_000, dump_date=DUMP_DATE
    )
    members = read_members(tmp_path / "enwiki_namespace_0.tar.gz")
    assert [info.name for info, _ in members] == [f"enwiki_namespace_0_{k}.ndjson" for k in range(len(members))]
    for info, _ in members:
        assert (info.mtime, info.uid, info.gid, info.uname, info.gname, info.mode) == (
            DUMP_DATE_EPOCH,
            0,
            0,
            "",
            "",
            0o644,
        )
        assert info.isreg() and not info.pax_headers
    all_ids = [page_id for content in (c for _, c in members) for page_id in ids_of(content)]
    assert all_ids == [page_id for page_id, _ in enwiki]
    assert b"".join(content for _, content in members) == b"".join(line + b"\n" for _, line in enwiki)
    # Without a dump date the mtime is 0.
    undated = write_snapshot(enwiki[:1], tmp_path / "undated", dbname="enwiki", namespace=0)
    assert undated.mtime == 0
    assert read_members(tmp_path / "undated" / "enwiki_namespace_0.tar.gz")[0][0].mtime == 0
    assert files.mtime == DUMP_DATE_EPOCH


# --- member size ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dbname", "limit"),
    [("enwiki", 4_000_000), ("enwiki", 50_000), ("frwiki", 1_000_000), ("dewiki", 50_000)],
)
def test_members_respect_the_size_limit_and_chunks_equal_members(tmp_path, real_records, dbname, limit):
    records = real_records[dbname]
    files = write_snapshot(records, tmp_path, dbname=dbname, namespace=0, max_member_bytes=limit)
    expected = greedy_members(records, limit)
    assert len(expected) >= 2, "the case must produce several members"

    members = read_members(tmp_path / f"{dbname}_namespace_0.tar.gz")
    assert [ids_of(content) for _, content in members] == expected
    assert [m.record_count for m in files.members] == [len(ids) for ids in expected]
    for member, (info, content) in zip(files.members, members, strict=True):
        assert info.size == member.bytes == len(content)
        assert member.bytes <= limit or member.record_count == 1
        assert hashlib.sha256(content).hexdigest() == member.sha256
        assert (member.first_page_id, member.last_page_id) == (ids_of(content)[0], ids_of(content)[-1])

    # Chunk n is member n, in record order, as chunk_n.ndjson inside chunk_n.tar.gz.
    assert len(files.chunks) == len(files.members)
    for n, chunk in enumerate(files.chunks):
        assert chunk.path == f"chunks/{dbname}_namespace_0/chunk_{n}.tar.gz"
        assert chunk.identifier == f"{dbname}_namespace_0_chunk_{n}"
        ((info, content),) = read_members(tmp_path / chunk.path)
        assert info.name == f"chunk_{n}.ndjson"
        assert content == members[n][1]
        assert chunk.record_count == files.members[n].record_count


def test_an_article_larger_than_the_member_size_gets_a_member_of_its_own(tmp_path, enwiki):
    limit = 2_000_000
    big = [page_id for page_id, line in enwiki if len(line) + 1 > limit]
    assert big, "the real enwiki records include articles over 2 MB"
    files = write_snapshot(enwiki, tmp_path, dbname="enwiki", namespace=0, max_member_bytes=limit)
    members = read_members(tmp_path / "enwiki_namespace_0.tar.gz")
    for page_id in big:
        (alone,) = [(info, content) for info, content in members if page_id in ids_of(content)]
        assert ids_of(alone[1]) == [page_id]
        assert alone[0].size > limit
    # Nothing split, nothing dropped.
    assert b"".join(content for _, content in members) == b"".join(line + b"\n" for _, line in enwiki)
    assert files.record_count == len(enwiki)


def test_default_member_size_is_enterprises(tmp_path, enwiki):
    files = write_snapshot(enwiki, tmp_path, dbname="enwiki", namespace=0)
    assert BUFFER_SIZE == 100_000_000 and files.max_member_bytes == BUFFER_SIZE
    assert len(files.members) == 1 and files.members[0].record_count == len(enwiki)


def test_stale_chunks_of_an_earlier_run_are_removed(tmp_path, enwiki):
    write_snapshot(enwiki, tmp_path, dbname="enwiki", namespace=0, max_member_bytes=50_000)
    assert len(list((tmp_path / "chunks" / "enwiki_namespace_0").glob("chunk_*.tar.gz"))) == 5
    write_snapshot(enwiki, tmp_path, dbname="enwiki", namespace=0)
    assert sorted(p.name for p in (tmp_path / "chunks" / "enwiki_namespace_0").iterdir()) == ["chunk_0.tar.gz"]


# --- empty namespace ------------------------------------------------------------------------------


def test_an_empty_namespace_gives_an_empty_valid_archive_and_no_chunks(tmp_path):
    files = write_snapshot([], tmp_path / "a", dbname="enwiki", namespace=14, dump_date=DUMP_DATE)
    again = write_snapshot(iter(()), tmp_path / "b", dbname="enwiki", namespace=14, dump_date=DUMP_DATE)
    path = tmp_path / "a" / "enwiki_namespace_14.tar.gz"
    assert files.archive.sha256 == again.archive.sha256 == sha256_of(path)
    assert files.members == () and files.chunks == () and files.record_count == 0
    assert files.archive.first_page_id is None and files.archive.last_page_id is None
    assert gzip.decompress(path.read_bytes()) == bytes(10240)  # end-of-archive blocks, one whole record
    with tarfile.open(path, "r:gz") as tar:
        assert tar.getmembers() == []
    listed = subprocess.run(["tar", "-tzf", str(path)], capture_output=True, check=True)
    assert listed.stdout == b""
    manifest = build_manifest(files)
    assert verify_snapshot_files(tmp_path / "a", manifest) == []
    metadata = snapshot_metadata(manifest).to_dict()
    assert "chunks" not in metadata and metadata["size"] == {"value": 0, "unit_text": "MB"}


# --- compatibility --------------------------------------------------------------------------------


def test_gnu_tar_and_gzip_read_archive_and_chunks(tmp_path, enwiki):
    files = write_snapshot(enwiki, tmp_path / "out", dbname="enwiki", namespace=0, max_member_bytes=4_000_000)
    archive = tmp_path / "out" / files.archive.path
    subprocess.run(["gzip", "-t", str(archive)], check=True)
    listed = subprocess.run(["tar", "-tzf", str(archive)], capture_output=True, check=True, text=True)
    assert listed.stdout.split() == [member.name for member in files.members]

    extract = tmp_path / "extracted"
    extract.mkdir()
    subprocess.run(["tar", "-xzf", str(archive), "-C", str(extract)], check=True)
    subprocess.run(["tar", "-xzf", str(tmp_path / "out" / files.chunks[1].path), "-C", str(extract)], check=True)
    for member in files.members:
        assert hashlib.sha256((extract / member.name).read_bytes()).hexdigest() == member.sha256
    assert (extract / "chunk_1.ndjson").read_bytes() == (extract / files.members[1].name).read_bytes()
    # The standard library's gzip module reads it as one stream, too.
    with gzip.open(archive) as stream:
        assert len(stream.read()) % 10240 == 0


def test_stdlib_zlib_codec_writes_the_same_format(tmp_path, enwiki):
    files = write_snapshot(
        enwiki, tmp_path, dbname="enwiki", namespace=0, max_member_bytes=4_000_000, codec="zlib", compresslevel=6
    )
    assert (files.codec, files.compresslevel) == ("zlib", 6)
    assert verify_snapshot_files(tmp_path, build_manifest(files)) == []
    with pytest.raises(ValueError, match="out of range"):
        write_snapshot(enwiki, tmp_path, dbname="enwiki", namespace=0, codec="isal", compresslevel=6)


# --- bad input (synthetic) ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("records", "error", "message"),
    [
        ([(2, b'{"identifier":2}'), (1, b'{"identifier":1}')], ValueError, "strictly increasing"),
        ([(1, b'{"identifier":1}'), (1, b'{"identifier":1}')], ValueError, "strictly increasing"),
        ([(1, b'{"a":\n1}')], ValueError, "raw newline"),
        ([(1, b"")], ValueError, "empty"),
        ([(1, b"\n")], ValueError, "empty"),
        ([(1, '{"identifier":1}')], TypeError, "must be bytes"),
        ([(True, b'{"identifier":1}')], TypeError, "page id"),
    ],
)
def test_bad_input_is_refused_and_leaves_no_files(tmp_path, records, error, message):
    with pytest.raises(error, match=message):
        write_snapshot(records, tmp_path, dbname="enwiki", namespace=0)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_bad_names_and_sizes_are_refused(tmp_path):
    with pytest.raises(ValueError, match="dbname"):
        write_snapshot([], tmp_path, dbname="../etc", namespace=0)
    with pytest.raises(ValueError, match="namespace"):
        write_snapshot([], tmp_path, dbname="enwiki", namespace=-1)
    with pytest.raises(ValueError, match="max_member_bytes"):
        write_snapshot([], tmp_path, dbname="enwiki", namespace=0, max_member_bytes=0)
    with pytest.raises(ValueError, match="YYYYMMDD"):
        write_snapshot([], tmp_path, dbname="enwiki", namespace=0, dump_date="2025-01-01")


def test_a_trailing_newline_on_input_lines_is_accepted(tmp_path, enwiki):
    plain = write_snapshot(enwiki, tmp_path / "a", dbname="enwiki", namespace=0)
    newline = write_snapshot([(p, line + b"\n") for p, line in enwiki], tmp_path / "b", dbname="enwiki", namespace=0)
    assert plain.archive.sha256 == newline.archive.sha256


# --- metadata objects -----------------------------------------------------------------------------


def shape(value):
    """Keys and JSON types, recursively (int and float are one JSON number type)."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(item) for item in value[:1]]
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def test_metadata_objects_have_the_shape_of_real_enterprise_ones(tmp_path, enwiki, fixtures_dir):
    testdata = fixtures_dir / "wme-sdk-testdata" / "testdata"
    real_snapshot = orjson.loads((testdata / "snapshot.json").read_bytes())
    real_chunk = orjson.loads((testdata / "chunk.json").read_bytes())
    real_listing = orjson.loads(lzma.open(testdata / "snapshots.json.xz").read())

    files = write_snapshot(
        enwiki, tmp_path, dbname="enwiki", namespace=0, max_member_bytes=4_000_000, dump_date=DUMP_DATE
    )
    manifest = build_manifest(files)
    ours = orjson.loads(snapshot_metadata(manifest).to_json())
    chunks = ours.pop("chunks")  # in Enterprise's schema (general/schema/snapshot.go), not in the 2023 sample
    assert list(ours) == list(real_snapshot)  # same keys, same order
    assert shape(ours) == shape(real_snapshot)
    assert all(shape(item) == shape(ours) for item in real_listing)
    assert chunks == [f"enwiki_namespace_0_chunk_{n}" for n in range(len(files.chunks))]

    assert ours["identifier"] == "enwiki_namespace_0"
    assert ours["version"] == hashlib.md5((tmp_path / files.archive.path).read_bytes()).hexdigest()
    assert ours["size"]["value"] == round(files.archive.bytes / 1e6, 3)
    assert ours["is_part_of"] == {"identifier": "enwiki"} and ours["namespace"] == {"identifier": 0}
    assert ours["in_language"] == {"identifier": "en"}
    assert RFC3339.match(ours["date_modified"])

    for chunk in manifest.chunks:
        theirs = orjson.loads(chunk_metadata(manifest, chunk).to_json())
        assert list(theirs) == list(real_chunk)
        assert shape(theirs) == shape(real_chunk)
        assert theirs["version"] == hashlib.md5((tmp_path / chunk.path).read_bytes()).hexdigest()
        assert theirs["size"]["value"] == chunk.bytes / 1e6  # to the byte, as Enterprise's chunk objects

    lines = listing_ndjson([snapshot_metadata(manifest), snapshot_metadata(manifest)]).split(b"\n")
    assert len(lines) == 2 and orjson.loads(lines[0]) == snapshot_metadata(manifest).to_dict()


def test_language_comes_from_the_records(tmp_path, real_records):
    simple = write_snapshot(real_records["simplewiki"], tmp_path / "s", dbname="simplewiki", namespace=0)
    assert simple.language == "simple"
    versity = write_snapshot(real_records["enwikiversity"], tmp_path / "v", dbname="enwikiversity", namespace=0)
    assert versity.language == "en"
    assert write_snapshot([], tmp_path / "e", dbname="simplewiki", namespace=0).language == "simple"
    assert write_snapshot([], tmp_path / "x", dbname="dewiki", namespace=0, language="de").language == "de"
    assert language_from_dbname("zh_min_nanwiki") == "zh-min-nan"


# --- manifest and verification --------------------------------------------------------------------


@pytest.fixture
def written(tmp_path, enwiki) -> tuple[SnapshotFiles, SnapshotManifest]:
    files = write_snapshot(
        enwiki,
        tmp_path,
        dbname="enwiki",
        namespace=0,
        max_member_bytes=4_000_000,
        dump_date=DUMP_DATE,
        event_cutoff="2025-01-01T06:00:00Z",
    )
    return files, build_manifest(files)


def test_manifest_lists_every_file_member_and_chunk(written):
    files, manifest = written
    assert SnapshotManifest.from_json(manifest.to_json()) == manifest
    assert manifest.schema_version == 1
    assert manifest.inputs.dump_date == DUMP_DATE and manifest.inputs.event_cutoff == "2025-01-01T06:00:00Z"
    assert manifest.generator.codec == "isal" and manifest.generator.version
    assert manifest.record_count == 5 and manifest.first_page_id == 736 and manifest.last_page_id == 3434750
    assert [m.name for m in manifest.members] == [m.name for m in files.members]
    assert [c.sha256 for c in manifest.chunks] == [c.sha256 for c in files.chunks]
    assert manifest.archive.md5 == files.archive.md5


def test_verify_passes_on_intact_files(written):
    files, manifest = written
    assert verify_snapshot_files(files.out_dir, manifest) == []


def rewrite_member(archive: Path, member_index: int, edit) -> None:
    """Rewrite an archive (stdlib tarfile) with one member's content changed by ``edit``."""
    members = read_members(archive)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for index, (info, content) in enumerate(members):
            if index == member_index:
                content = edit(content)
                info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    archive.write_bytes(buffer.getvalue())


def test_a_tampered_member_is_named(written):
    files, manifest = written
    archive = files.out_dir / files.archive.path
    # Same length, still valid JSON: only the digests can tell.
    rewrite_member(archive, 1, lambda content: content.replace(b"Merkel", b"Merkal", 1))
    problems = verify_snapshot_files(files.out_dir, manifest)
    assert any("enwiki_namespace_0_1.ndjson" in p and "sha256" in p for p in problems), problems
    assert any(p.startswith(f"{archive}: sha256") for p in problems), problems
    assert not any("enwiki_namespace_0_0.ndjson" in p or "enwiki_namespace_0_2.ndjson" in p for p in problems)
    assert not any("chunk_" in p for p in problems)


def test_a_corrupt_or_missing_chunk_is_named(written):
    files, manifest = written
    chunk = files.out_dir / files.chunks[2].path
    data = bytearray(chunk.read_bytes())
    data[len(data) // 2] ^= 0xFF
    chunk.write_bytes(bytes(data))
    (files.out_dir / files.chunks[0].path).unlink()
    problems = verify_snapshot_files(files.out_dir, manifest)
    assert any(p.startswith(str(chunk)) for p in problems), problems
    assert any("chunk_0.tar.gz: missing" in p for p in problems), problems
    assert not any("chunk_1" in p for p in problems)
    assert not any(p.startswith(str(files.out_dir / files.archive.path)) for p in problems)


def test_the_sha256_only_check_still_names_a_tampered_member_and_a_corrupt_chunk(written):
    # What the export runs (md5=False): a change that keeps the JSON valid is found by the SHA-256s alone.
    files, manifest = written
    assert verify_snapshot_files(files.out_dir, manifest, md5=False) == []
    archive = files.out_dir / files.archive.path
    rewrite_member(archive, 1, lambda content: content.replace(b"Merkel", b"Merkal", 1))
    chunk = files.out_dir / files.chunks[2].path
    data = bytearray(chunk.read_bytes())
    data[len(data) // 2] ^= 0xFF
    chunk.write_bytes(bytes(data))
    problems = verify_snapshot_files(files.out_dir, manifest, md5=False)
    assert any("enwiki_namespace_0_1.ndjson" in p and "sha256" in p for p in problems), problems
    assert any(p.startswith(f"{archive}: sha256") for p in problems), problems
    assert any(p.startswith(str(chunk)) for p in problems), problems
    assert not any("md5" in p for p in problems), problems


def test_md5s_are_compared_unless_left_to_the_sha256s(written):
    # A manifest whose MD5s are not those of its bytes (what write_snapshot never writes): the default check
    # names every one; md5=False relies on the writer having hashed the same bytes with both.
    files, manifest = written
    wrong = "0" * 32
    bad = manifest.model_copy(
        update={
            "archive": manifest.archive.model_copy(update={"md5": wrong}),
            "members": [m.model_copy(update={"md5": wrong}) for m in manifest.members],
        }
    )
    problems = verify_snapshot_files(files.out_dir, bad)
    assert any(p.startswith(f"{files.out_dir / files.archive.path}: md5") for p in problems), problems
    assert sum("ndjson: md5" in p for p in problems) == 2 * len(manifest.members), problems  # archive + chunks
    assert verify_snapshot_files(files.out_dir, bad, md5=False) == []


def test_unparsable_and_invalid_records_are_named_with_their_line(tmp_path, enwiki):
    # Synthetic bad records between real ones: write_snapshot does not parse, the verifier does.
    records = [enwiki[0], (800, b'{"identifier": 800, "name": broken'), (900, b'{"name": "no identifier"}'), enwiki[1]]
    files = write_snapshot(records, tmp_path, dbname="enwiki", namespace=0)
    manifest = build_manifest(files)

    def validator(record):
        if record.get("identifier") == 28492:
            raise ValueError("'version' is a required property")

    problems = verify_snapshot_files(tmp_path, manifest, validator=validator)
    member = "enwiki_namespace_0_0.ndjson"
    assert any(member in p and "line 2: not JSON" in p for p in problems), problems
    assert any(member in p and "line 3: record has no integer 'identifier'" in p for p in problems), problems
    assert any(member in p and "line 4: invalid record (page 28492)" in p and "required" in p for p in problems)
    assert any("chunk_0.ndjson" in p and "line 2: not JSON" in p for p in problems)


def test_each_record_is_parsed_and_validated_once_though_a_chunk_repeats_its_member(written, enwiki):
    files, manifest = written
    seen: list[int] = []
    assert verify_snapshot_files(files.out_dir, manifest, validator=lambda r: seen.append(r["identifier"])) == []
    assert len(manifest.chunks) == len(manifest.members) > 1
    assert seen == [page_id for page_id, _line in enwiki]  # the archive's reading; the chunks' are not repeated


def test_a_chunk_whose_member_differs_from_the_archive_is_read_line_by_line(written):
    files, manifest = written
    chunk = files.out_dir / files.chunks[1].path
    # A well-formed chunk whose member has one line that is no longer JSON: the archive's reading cannot
    # stand for it, so its own lines are read, and the bad one is named with its line number.
    rewrite_member(chunk, 0, lambda content: content.replace(b'{"', b'{', 1))
    seen: list[int] = []
    problems = verify_snapshot_files(files.out_dir, manifest, validator=lambda r: seen.append(r["identifier"]))
    assert any("chunk_1.ndjson" in p and "line 1: not JSON" in p for p in problems), problems
    assert any(p.startswith(str(chunk)) and "sha256" in p for p in problems), problems
    assert not any(p.startswith(str(files.out_dir / files.archive.path)) for p in problems), problems
    assert not any("chunk_0" in p or "chunk_2" in p for p in problems), problems
    assert len(problems) == len(set(problems))  # the first (hash-only) reading of the chunk reported nothing


@pytest.mark.parametrize(
    "content",
    [b"", b"\n", b"\n\n", b"one line without newline", b'{"a": 1}\n{"b": 2}\n', b'{"a": 1}\n{"b": 2}',
     b"x" * 2_500_000 + b"\n" + b"y" * 10 + b"\n" + b"z" * 3_000_000,  # lines longer than a block, across blocks
     b"short\n" * 300_000],
)
def test_member_lines_are_the_lines_iteration_gives(content):
    from wme_assets.snapshots.manifest import _member_lines

    assert list(_member_lines(io.BytesIO(content))) == list(io.BytesIO(content))
