"""File source: JSONL or CSV files in the record schema (see ``records.py``).

The cursor is a fingerprint of the files' bytes: unchanged files are skipped, a changed file is
re-read whole and upserted (the content hash tells edits from re-reads). Bytes that are not valid
in the configured encoding reject only the records that contain them.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterator
from pathlib import Path

from feedback_pipeline.errors import ConfigError, RecordError
from feedback_pipeline.ingest.config import FileSourceConfig
from feedback_pipeline.ingest.source import Batch, Source
from feedback_pipeline.records import Item, Rejection, item_from_mapping

SUFFIXES = (".jsonl", ".ndjson", ".csv")
BATCH_SIZE = 2_000


class FileSource(Source):
    def __init__(self, config: FileSourceConfig, *, max_body_chars: int = 100_000) -> None:
        self.config = config
        self.name = config.name
        self.max_body_chars = max_body_chars

    def files(self) -> list[Path]:
        path = self.config.path
        if path.is_dir():
            return sorted(p for p in path.iterdir() if p.suffix.lower() in SUFFIXES)
        if not path.exists():
            raise ConfigError(f"source '{self.name}': file {path} does not exist (sources.path)")
        if path.suffix.lower() not in SUFFIXES:
            raise ConfigError(
                f"source '{self.name}': {path} is not .jsonl/.ndjson/.csv; rename it or convert it"
            )
        return [path]

    def fetch(self, cursor: str | None) -> Iterator[Batch]:
        files = self.files()
        contents = [(p, p.read_bytes()) for p in files]
        digest = hashlib.sha256()
        for p, data in contents:
            digest.update(p.name.encode() + b"\0" + hashlib.sha256(data).digest())
        fingerprint = digest.hexdigest()
        if fingerprint == cursor:
            return
        batch = Batch()
        for path, data in contents:
            for position, raw, parsed in _records(path, data, self.config.encoding):
                try:
                    batch.items.append(self._item(parsed))
                except RecordError as exc:
                    batch.rejections.append(
                        Rejection(
                            source=self.name,
                            position=position,
                            reason=exc.reason,
                            raw=raw,
                            external_id=_external_id(parsed),
                        )
                    )
                if len(batch.items) + len(batch.rejections) >= BATCH_SIZE:
                    yield batch
                    batch = Batch()
        batch.cursor = fingerprint
        yield batch

    def _item(self, parsed: dict | RecordError) -> Item:
        if isinstance(parsed, RecordError):
            raise parsed
        record = dict(parsed)
        record.setdefault("source", self.name)
        if not record.get("source"):
            record["source"] = self.name
        if not record.get("kind") and self.config.default_kind:
            record["kind"] = self.config.default_kind
        return item_from_mapping(record, max_body_chars=self.max_body_chars)


def _external_id(parsed: dict | RecordError) -> str | None:
    if isinstance(parsed, dict) and parsed.get("external_id") not in (None, ""):
        return str(parsed["external_id"])
    return None


def _bad_bytes(text: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in text)


def _records(
    path: Path, data: bytes, encoding: str
) -> Iterator[tuple[str, str, dict | RecordError]]:
    """Yield (position, raw text, parsed mapping or the error) for every record in a file."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    text = data.decode(encoding, errors="surrogateescape")
    encoding_error = RecordError(
        f"contains bytes that are not valid {encoding}; re-export the file as {encoding} "
        "or set the source's `encoding`"
    )
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(io.StringIO(text, newline=""))
        for row in reader:
            position = f"{path.name}:{reader.line_num}"
            raw = json.dumps(row, ensure_ascii=False)
            if None in row:
                yield position, raw, RecordError(
                    f"row has {len(row) - 1 + len(row[None])} fields, header has {len(row) - 1}"
                )
            elif _bad_bytes(raw):
                yield position, raw.encode("utf-8", "replace").decode(), encoding_error
            else:
                yield position, raw, row
        return
    # Only \n ends a JSONL record: str.splitlines() would also split on U+2028 and friends,
    # which JSON allows raw inside strings.
    for lineno, line in enumerate(text.split("\n"), start=1):
        line = line.removesuffix("\r")
        if not line.strip():
            continue
        position = f"{path.name}:{lineno}"
        raw = line  # whole: rejections are keyed by its hash; ingest stores 2,000 chars
        if _bad_bytes(line):
            yield position, raw.encode("utf-8", "replace").decode(), encoding_error
            continue
        try:
            parsed = json.loads(line)
        except json.JSONDecodeError as exc:
            yield position, raw, RecordError(f"malformed JSON: {exc.msg} at column {exc.colno}")
            continue
        if not isinstance(parsed, dict):
            yield position, raw, RecordError(
                f"each line must be a JSON object, got {type(parsed).__name__}"
            )
            continue
        yield position, raw, parsed


__all__ = ["FileSource"]
