"""Splitting an export file into records, each with its position, raw text and parsed mapping.

What goes wrong with one record (bytes not valid in the encoding, malformed or too deeply nested
JSON, a line over ``ingest.max_record_chars``, a CSV quote that never closes) is yielded as that
record's :class:`RecordError`, never raised: the file source rejects it and reads on.

- **Encoding**: a byte-order mark wins over the configured encoding (UTF-8, UTF-16, UTF-32); a
  BOM-less UTF-16 file (every other byte NUL) is recognised too. Undecodable bytes reject only
  the records that contain them.
- **JSONL** (``.jsonl``, ``.ndjson``): one object per line; only ``\\n`` ends a record.
- **JSON** (``.json``, or a JSONL file that starts with ``[``): an array of objects, each
  positioned at its first line; after a malformed element reading resumes at the next line that
  starts an object. A ``.json`` file holding one object or JSON Lines is read as such.
- **CSV**: a header row, then one record per row. A quoted field that runs past
  ``ingest.csv_max_record_lines`` lines or ``max_record_chars`` characters or to the end of the
  file, or a row over several lines with more fields than the header (a stray quote closed by a
  later row's quote), is rejected at the line where it starts, and reading resumes on the
  following line, so the rows an unterminated quote would have swallowed are recovered.
"""

from __future__ import annotations

import bisect
import csv
import io
import json
import re
from collections.abc import Callable, Iterator

from feedback_pipeline.errors import RecordError
from feedback_pipeline.ingest.config import IngestConfig
from feedback_pipeline.records import MAX_RAW_CHARS

SUFFIXES = (".jsonl", ".ndjson", ".json", ".csv")
Record = tuple[str, str, dict | RecordError]  # position, raw text, parsed record or the error

_BOMS = ((b"\x00\x00\xfe\xff", "utf-32-be"), (b"\xff\xfe\x00\x00", "utf-32-le"),
         (b"\xef\xbb\xbf", "utf-8"), (b"\xfe\xff", "utf-16-be"), (b"\xff\xfe", "utf-16-le"))
_NEXT_OBJECT = re.compile(r"\n[ \t]*\{")


def decode(data: bytes, encoding: str) -> tuple[str, str]:
    """The file's text and the encoding it was read with (undecodable bytes surrogate-escaped)."""
    for bom, name in _BOMS:
        if data.startswith(bom):
            return data[len(bom):].decode(name, errors="surrogateescape"), name
    if encoding.lower().replace("_", "-") in ("utf-8", "utf8") and len(data) >= 4:
        sample = data[:4096]
        even, odd = sample[0::2], sample[1::2]
        if odd.count(0) > len(odd) * 0.3 and not even.count(0):
            encoding = "utf-16-le"
        elif even.count(0) > len(even) * 0.3 and not odd.count(0):
            encoding = "utf-16-be"
    return data.decode(encoding, errors="surrogateescape"), encoding


def _bad_bytes(text: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in text)


def _encoding_error(encoding: str) -> RecordError:
    return RecordError(f"contains bytes that are not valid {encoding}; re-export the file as "
                       f"{encoding} or set the source's `encoding`")


def _printable(raw: str) -> str:
    return raw.encode("utf-8", "replace").decode("utf-8")


def _too_long(length: int, limit: int, what: str) -> RecordError:
    return RecordError(f"{what} is {length:,} characters, over the limit of {limit:,} "
                       "(ingest.max_record_chars)")


def file_records(name: str, data: bytes, encoding: str, limits: IngestConfig) -> Iterator[Record]:
    """Every record of one file (``name`` is used in positions: ``name:line``)."""
    text, used = decode(data, encoding)
    suffix = name.lower().rsplit(".", 1)[-1]
    if suffix == "csv":
        yield from _csv_records(name, text, used, limits)
    elif text.lstrip().startswith("["):
        yield from _array_records(name, text, used, limits)
    elif suffix == "json":
        yield from _json_document(name, text, used, limits)
    else:
        yield from _jsonl_records(name, text, used, limits)


def _parse_object(text: str) -> dict | RecordError:
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as exc:
        return RecordError(f"malformed JSON: {exc.msg} at column {exc.colno}")
    except RecursionError:
        return RecordError("JSON nested too deeply to read (over ~1,000 levels)")
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits
        return RecordError(f"unreadable JSON value: {str(exc)[:200]}")
    if not isinstance(parsed, dict):
        return RecordError(f"each line must be a JSON object, got {type(parsed).__name__}")
    return parsed


def _record(position: str, raw: str, encoding: str, limits: IngestConfig, what: str,
            parse: Callable[[str], dict | RecordError] = _parse_object) -> Record:
    """One record's guard: too long, undecodable bytes, or what ``parse`` makes of it."""
    if len(raw) > limits.max_record_chars:
        return position, raw, _too_long(len(raw), limits.max_record_chars, what)
    if _bad_bytes(raw):
        return position, _printable(raw), _encoding_error(encoding)
    # raw whole: rejections are keyed by its hash; ingest stores 2,000 characters
    return position, raw, parse(raw)


def _jsonl_records(name: str, text: str, encoding: str, limits: IngestConfig,
                   first_line: int = 1) -> Iterator[Record]:
    # Only \n ends a JSONL record: str.splitlines() would also split on U+2028 and friends,
    # which JSON allows raw inside strings.
    for lineno, line in enumerate(text.split("\n"), start=first_line):
        # A BOM inside the file: exports joined with `cat`, the second one with a BOM.
        line = line.removesuffix("\r").removeprefix("\ufeff")
        if not line.strip():
            continue
        yield _record(f"{name}:{lineno}", line, encoding, limits, "the line")


def _json_document(name: str, text: str, encoding: str, limits: IngestConfig) -> Iterator[Record]:
    """A ``.json`` file: one object, or (when it is not one JSON value) JSON Lines."""
    stripped = text.strip()
    if not stripped:
        return
    try:
        json.loads(stripped)
    except (ValueError, RecursionError):
        yield from _jsonl_records(name, text, encoding, limits)  # JSON Lines, or broken lines
        return
    first_line = text[: text.index(stripped[0])].count("\n") + 1
    yield _record(f"{name}:{first_line}", stripped, encoding, limits, "the file")


class _Lines:
    """Line positions of a text, for naming the line where an array element starts."""

    def __init__(self, text: str) -> None:
        self.starts = [m.end() for m in re.finditer("\n", text)]

    def of(self, offset: int) -> int:
        return bisect.bisect_right(self.starts, offset) + 1


def _skip_ws(text: str, i: int) -> int:
    while i < len(text) and text[i] in " \t\r\n":
        i += 1
    return i


def _array_records(name: str, text: str, encoding: str, limits: IngestConfig) -> Iterator[Record]:
    decoder, lines = json.JSONDecoder(), _Lines(text)
    i = _skip_ws(text, text.index("[") + 1)
    while i < len(text) and text[i] != "]":
        start = i
        position = f"{name}:{lines.of(start)}"
        try:
            value, end = decoder.raw_decode(text, start)
        except (ValueError, RecursionError) as exc:
            where = f" at line {lines.of(exc.pos)}" if isinstance(exc, json.JSONDecodeError) \
                else ""
            reason = (f"malformed JSON{where}: {exc.msg}" if isinstance(exc, json.JSONDecodeError)
                      else "JSON nested too deeply to read (over ~1,000 levels)")
            found = _NEXT_OBJECT.search(text, start + 1)
            end = found.start() + 1 if found else len(text)
            raw = text[start:end].rstrip().rstrip(",")
            yield position, _printable(raw[:MAX_RAW_CHARS * 2]), RecordError(
                f"{reason}; reading resumes at the next line that starts an object")
            i = _skip_ws(text, end)
            continue
        yield _record(position, text[start:end], encoding, limits, "the element",
                      parse=lambda _raw, v=value: v if isinstance(v, dict) else RecordError(
                          f"each array element must be a JSON object, got {type(v).__name__}"))
        i = _skip_ws(text, end)
        if i < len(text) and text[i] == ",":
            i = _skip_ws(text, i + 1)
    rest = text[i + 1:].strip() if i < len(text) else ""
    if i >= len(text):
        yield f"{name}:{lines.of(len(text))}", "", RecordError(
            "the JSON array is not closed (missing ']'): the file is truncated?")
    elif rest:
        offset = text.index(rest[0], i + 1)
        yield f"{name}:{lines.of(offset)}", _printable(rest[:MAX_RAW_CHARS]), RecordError(
            "trailing data after the JSON array")


class _RecordTooLong(Exception):
    def __init__(self, *, at_end: bool = False) -> None:
        super().__init__()
        self.at_end = at_end


class _Feed:
    """Feeds ``csv.reader`` one line at a time and stops a record that runs past the limits."""

    def __init__(self, lines: list[str], start: int, limits: IngestConfig) -> None:
        self.lines, self.pos, self.limits = lines, start, limits
        self.mark()

    def mark(self) -> None:
        """A new record starts at the next line."""
        self.record_start, self.record_lines, self.record_chars = self.pos, 0, 0

    def __iter__(self) -> _Feed:
        return self

    def __next__(self) -> str:
        if self.pos >= len(self.lines):
            # csv asks for a line mid-record only inside a quoted field: the file ended in it
            if self.record_lines:
                raise _RecordTooLong(at_end=True)
            raise StopIteration
        line = self.lines[self.pos]
        self.record_lines += 1
        self.record_chars += len(line)
        if (self.record_lines > self.limits.csv_max_record_lines
                or self.record_chars > self.limits.max_record_chars):
            raise _RecordTooLong
        self.pos += 1
        return line


def _csv_records(name: str, text: str, encoding: str, limits: IngestConfig) -> Iterator[Record]:
    # Our own limits bound a record; the csv module's (128 KiB per field) must not fire first.
    if csv.field_size_limit() < limits.max_record_chars:
        csv.field_size_limit(limits.max_record_chars)
    lines = io.StringIO(text, newline="").readlines()  # \n, \r\n or \r; keeps them for csv
    feed = _Feed(lines, 0, limits)
    header: list[str] | None = None
    while feed.pos < len(lines):
        try:
            for row in csv.reader(feed):
                start, end = feed.record_start, feed.pos
                feed.mark()
                if header is None:
                    header = [h.strip() for h in row]
                elif len(row) > len(header) and end - start > 1:
                    # A quote that opened in this row closed in a later one: the rows between
                    # were swallowed. Reject the row where it opened and read on from the next.
                    yield f"{name}:{start + 1}", _printable(lines[start][:MAX_RAW_CHARS]), \
                        RecordError(
                            f"row has {len(row)} fields, header has {len(header)}, over lines "
                            f"{start + 1}-{end}: an unterminated quote? The following lines are "
                            "read as new rows")
                    feed.pos = start + 1
                    feed.mark()
                    break
                elif row:
                    yield _csv_row(f"{name}:{start + 1}", row, header, encoding)
            else:
                break
        except _RecordTooLong as exc:
            start = feed.record_start
            first = lines[start].rstrip("\r\n")
            where = ("before the end of the file" if exc.at_end else
                     f"within {limits.csv_max_record_lines:,} lines / "
                     f"{limits.max_record_chars:,} characters (ingest.csv_max_record_lines, "
                     "max_record_chars)")
            yield f"{name}:{start + 1}", _printable(first[:MAX_RAW_CHARS]), RecordError(
                f"a quoted field opened here is not closed {where}: an unterminated quote? "
                "The following lines are read as new rows")
            feed.pos = start + 1
        except csv.Error as exc:
            start = feed.record_start
            yield f"{name}:{start + 1}", _printable(lines[start][:MAX_RAW_CHARS]), RecordError(
                f"malformed CSV: {exc}")
            feed.pos = max(feed.pos, start + 1)
        feed.mark()


def _csv_row(position: str, row: list[str], header: list[str], encoding: str) -> Record:
    named = [h for h in header if h]
    if len(set(named)) < len(named):  # which of two `body` columns is the body? Neither.
        twice = sorted({h for h in named if named.count(h) > 1})
        return position, json.dumps(row, ensure_ascii=False), RecordError(
            f"the header names column(s) {', '.join(map(repr, twice))} twice")
    record: dict = dict(zip(header, row, strict=False))
    for missing in header[len(row):]:  # a short row: its missing fields are empty, as DictReader
        record[missing] = None
    raw = json.dumps(record if len(row) <= len(header) else row, ensure_ascii=False)
    if len(row) > len(header):
        return position, raw, RecordError(
            f"row has {len(row)} fields, header has {len(header)}")
    if _bad_bytes(raw):
        return position, _printable(raw), _encoding_error(encoding)
    return position, raw, record


__all__ = ["SUFFIXES", "decode", "file_records"]
