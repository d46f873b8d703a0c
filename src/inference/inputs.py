"""Reading inputs to predict from .txt/.csv/.jsonl files and writing JSON-lines predictions.

Bad files stop the run with the file, the line (or row) and the fix; an empty text inside a good file
does not: the predictor answers it with a per-row error record, so one blank line never costs a batch.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

from src.utils.errors import DataError, MissingError

FORMATS = {
    ".txt": "one text per line",
    ".csv": "a header row and a column named by text_column (and text_pair_column for pairs)",
    ".jsonl": "one JSON object per line with the field named by text_column (and text_pair_column)",
}
KEYS = {"text": "text_column", "text_pair": "text_pair_column"}  # input field -> the config key naming its column
CSV_FIELD_LIMIT = 2**30  # csv's default (131072 characters) is shorter than some real documents


class InputFileError(DataError):
    """An input file that cannot be read as texts; the message names the file, line or row, and the fix."""


def decoded_lines(path: Path) -> list[str]:
    """The file's lines decoded as strict UTF-8, one line at a time so an error can name the line."""
    data = path.read_bytes().removeprefix(b"\xef\xbb\xbf")  # a UTF-8 byte-order mark is not text
    lines = []
    for number, raw in enumerate(data.splitlines(), start=1):
        try:
            lines.append(raw.decode("utf-8"))
        except UnicodeDecodeError as err:
            raise InputFileError(
                f"{path}:{number}: not valid UTF-8 (byte {raw[err.start]:#04x} at column {err.start + 1}). "
                f"Fix: re-encode the file as UTF-8, e.g. iconv -f latin1 -t utf-8 {path.name} > fixed{path.suffix}"
            ) from None
    return lines


def _read_txt(path: Path, lines: list[str], columns: dict[str, str]) -> list[dict[str, str]]:
    if "text_pair" in columns:
        raise InputFileError(f"{path}: a .txt file holds one text per line, not pairs. Fix: use .csv or .jsonl.")
    return [{"text": line} for line in lines]  # line N is text N; a blank line is an empty text (an error record)


def _read_csv(path: Path, lines: list[str], columns: dict[str, str]) -> list[dict[str, str]]:
    csv.field_size_limit(max(csv.field_size_limit(), CSV_FIELD_LIMIT))
    reader = csv.DictReader(io.StringIO("\n".join(lines), newline=""), strict=True)  # bad quoting raises
    try:
        header = reader.fieldnames or []
        for field, name in columns.items():
            if name not in header:
                raise InputFileError(
                    f"{path}: no column {name!r}; the header has {header}. Fix: {KEYS[field]}=<one of them>."
                )
        texts = [{f: row[c] or "" for f, c in columns.items()} for row in reader]  # a short row: empty text
    except csv.Error as err:
        raise InputFileError(
            f"{path}:{reader.line_num + 1}: malformed CSV ({err}) in the row starting on this line. "
            "Fix the quoting: a field that contains commas, "
            'quotes or line breaks is wrapped in double quotes and its quotes doubled ("" inside "..."); '
            "an unclosed quote runs to the end of the file."
        ) from None
    if not texts:
        raise InputFileError(f"{path}: a header but no rows: nothing to predict.")
    return texts


def _read_jsonl(path: Path, lines: list[str], columns: dict[str, str]) -> list[dict[str, str]]:
    texts = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue  # blank lines separate nothing in JSON lines
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise InputFileError(f"{path}:{number}: malformed JSON ({err.msg} at column {err.colno}).") from None
        row = {}
        for field, name in columns.items():
            if not isinstance(record, dict) or name not in record:
                found = f"fields {sorted(record)}" if isinstance(record, dict) else f"a JSON {type(record).__name__}"
                raise InputFileError(
                    f"{path}:{number}: no field {name!r} (found {found}). "
                    f"Fix: {KEYS[field]}=<field name>; every line must be an object holding it."
                )
            value = record[name]
            if value is not None and not isinstance(value, str):
                raise InputFileError(f"{path}:{number}: field {name!r} is {value!r}, not a string.")
            row[field] = value or ""
        texts.append(row)
    return texts


READERS: dict[str, Callable[[Path, list[str], dict[str, str]], list[dict[str, str]]]] = {
    ".txt": _read_txt,
    ".csv": _read_csv,
    ".jsonl": _read_jsonl,
}


def read_texts(path: str | Path, text_column: str = "text") -> list[str]:
    """The texts of an input file, in file order."""
    return [row["text"] for row in read_inputs(path, {"text": text_column})]


def read_inputs(path: str | Path, columns: dict[str, str]) -> list[dict[str, str]]:
    """Rows of an input file, in file order (empty ones included: they keep their place in the output);
    `columns` maps each input field ("text", "text_pair") to its column or JSON field."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in READERS:
        supported = "; ".join(f"{ext} ({what})" for ext, what in FORMATS.items())
        raise InputFileError(f"input={path}: unsupported file type {suffix or '(none)'!r}. Supported: {supported}.")
    if not path.is_file():
        raise MissingError(f"input={path}: no such file.")
    lines = decoded_lines(path)
    if not any(line.strip() for line in lines):
        raise InputFileError(f"input={path}: the file is empty: nothing to predict.")
    return READERS[suffix](path, lines, columns)


def write_jsonl(records: Iterable[dict], path: str | Path | None = None) -> None:
    """One JSON object per line, to `path` (parent folders created) or to stdout when `path` is None.
    Strict JSON: a NaN would raise here (the predictor turns non-finite outputs into error records)."""
    if path is None:
        for record in records:
            sys.stdout.write(json.dumps(record, ensure_ascii=False, allow_nan=False) + "\n")
        sys.stdout.flush()
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for record in records:
            f.write(json.dumps(record, ensure_ascii=False, allow_nan=False) + "\n")
