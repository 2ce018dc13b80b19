"""File source: JSONL, JSON (an array of records) or CSV exports in the record schema.

The cursor is a fingerprint of the files' bytes: unchanged files are skipped, a changed file is
re-read whole and upserted (the content hash tells edits from re-reads). Every record is decoded
and validated inside its own guard (``exports.py`` splits a file into records): bytes that are not
valid in the file's encoding, a line nested too deeply for the JSON parser, an unterminated CSV
quote or any invalid field reject only that record, with its ``file:line``. A file that cannot be
read at all, or a path that matches no file, fails the source by name.
"""

from __future__ import annotations

import glob
import hashlib
from collections.abc import Iterator
from pathlib import Path

from feedback_pipeline.errors import ConfigError, RecordError, SourceError
from feedback_pipeline.ingest.config import FileSourceConfig, IngestConfig
from feedback_pipeline.ingest.exports import SUFFIXES, file_records
from feedback_pipeline.ingest.source import Batch, Source
from feedback_pipeline.records import (
    Item,
    RecordRules,
    Rejection,
    guard_reason,
    item_from_mapping,
)

BATCH_SIZE = 2_000
_SUFFIX_NAMES = "/".join(SUFFIXES)


class FileSource(Source):
    """Args:
        config: the ``[[sources]]`` entry.
        max_body_chars: overrides ``ingest.max_body_chars``.
        ingest: the ``[ingest]`` limits (record size, CSV record lines); defaults when None.
        rules: the run's :class:`RecordRules`, checked here so a rejection keeps the file's raw
            line (the ingest stage checks every source's items again).
    """

    def __init__(self, config: FileSourceConfig, *, max_body_chars: int | None = None,
                 ingest: IngestConfig | None = None, rules: RecordRules | None = None) -> None:
        self.config = config
        self.name = config.name
        self.limits = ingest or IngestConfig()
        self.max_body_chars = max_body_chars or self.limits.max_body_chars
        self.rules = rules

    def files(self) -> list[Path]:
        """The files to read; a path that matches none is this source's error, never zero."""
        path = self.config.path
        where = f"source '{self.name}'"
        if glob.has_magic(str(path)):
            found = sorted(Path(p) for p in glob.glob(str(path), recursive=True))
            files = [p for p in found if p.is_file() and p.suffix.lower() in SUFFIXES]
            if not files:
                raise ConfigError(f"{where}: the pattern {path} matches no {_SUFFIX_NAMES} file "
                                  "(sources.path)")
            return files
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix.lower() in SUFFIXES)
            if not files:
                raise ConfigError(f"{where}: the folder {path} holds no {_SUFFIX_NAMES} file "
                                  "(sources.path)")
            return files
        if not path.exists():
            raise ConfigError(f"{where}: file {path} does not exist (sources.path)")
        if path.suffix.lower() not in SUFFIXES:
            raise ConfigError(f"{where}: {path} is not {_SUFFIX_NAMES}; rename it or convert it")
        return [path]

    def fetch(self, cursor: str | None) -> Iterator[Batch]:
        contents = []
        for p in self.files():
            try:
                contents.append((p, p.read_bytes()))
            except OSError as exc:
                raise SourceError(f"source '{self.name}': cannot read {p}: "
                                  f"{exc.strerror or exc}") from exc
        digest = hashlib.sha256()
        for p, data in contents:
            digest.update(p.name.encode() + b"\0" + hashlib.sha256(data).digest())
        fingerprint = digest.hexdigest()
        if fingerprint == cursor:
            return
        batch = Batch()
        for path, data in contents:
            for position, raw, parsed in file_records(path.name, data, self.config.encoding,
                                                      self.limits):
                batch_row = self._row(position, raw, parsed)
                (batch.items if isinstance(batch_row, Item) else batch.rejections).append(
                    batch_row)
                if len(batch.items) + len(batch.rejections) >= BATCH_SIZE:
                    yield batch
                    batch = Batch()
        batch.cursor = fingerprint
        yield batch

    def _row(self, position: str, raw: str, parsed: dict | RecordError) -> Item | Rejection:
        """The record's guard: whatever goes wrong with it becomes its rejection."""
        try:
            item = self._item(parsed, position)
            reason = self.rules.check(item, self.name) if self.rules else None
            if reason is None:
                return item
        except Exception as exc:  # noqa: BLE001 - one odd record must not end the source
            reason = guard_reason(exc)
        return Rejection(source=self.name, position=position, reason=reason, raw=raw,
                         external_id=_external_id(parsed))

    def _item(self, parsed: dict | RecordError, position: str) -> Item:
        if isinstance(parsed, RecordError):
            raise parsed
        record = dict(parsed)
        # A record without `source` belongs to this source; one with its own label (a mixed
        # export, like the demo) keeps it, unless it names another configured source
        # (RecordRules.check rejects that: it could overwrite that source's records).
        if not record.get("source"):
            record["source"] = self.name
        if not record.get("kind") and self.config.default_kind:
            record["kind"] = self.config.default_kind
        return item_from_mapping(record, max_body_chars=self.max_body_chars, position=position)


def _external_id(parsed: dict | RecordError) -> str | None:
    if isinstance(parsed, dict):
        value = parsed.get("external_id")
        if isinstance(value, str | int) and not isinstance(value, bool) and value != "":
            return str(value)
    return None


__all__ = ["FileSource"]
