"""Reading texts to predict from .txt/.csv/.jsonl files and writing JSON-lines predictions.

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

FORMATS = {
    ".txt": "one text per line",
    ".csv": "a header row and a column named by text_column",
    ".jsonl": "one JSON object per line with the field named by text_column",
}
CSV_FIELD_LIMIT = 2**30  # csv's default (131072 characters) is shorter than some real documents


class InputFileError(ValueError):
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


def _read_txt(path: Path, lines: list[str], text_column: str) -> list[str]:
    return lines  # line N is text N; a blank line is an empty text (answered with an error record)


def _read_csv(path: Path, lines: list[str], text_column: str) -> list[str]:
    csv.field_size_limit(max(csv.field_size_limit(), CSV_FIELD_LIMIT))
    reader = csv.DictReader(io.StringIO("\n".join(lines), newline=""), strict=True)  # bad quoting raises
    try:
        columns = reader.fieldnames or []
        if text_column not in columns:
            raise InputFileError(
                f"{path}: no column {text_column!r}; the header has {columns}. Fix: text_column=<one of them>."
            )
        texts = [row[text_column] or "" for row in reader]  # a short row reads None: an empty text
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


def _read_jsonl(path: Path, lines: list[str], text_column: str) -> list[str]:
    texts = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue  # blank lines separate nothing in JSON lines
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise InputFileError(f"{path}:{number}: malformed JSON ({err.msg} at column {err.colno}).") from None
        if not isinstance(record, dict) or text_column not in record:
            found = f"fields {sorted(record)}" if isinstance(record, dict) else f"a JSON {type(record).__name__}"
            raise InputFileError(
                f"{path}:{number}: no field {text_column!r} (found {found}). "
                f"Fix: text_column=<field name>; every line must be an object holding it."
            )
        value = record[text_column]
        if value is not None and not isinstance(value, str):
            raise InputFileError(f"{path}:{number}: field {text_column!r} is {value!r}, not a string.")
        texts.append(value or "")
    return texts


READERS: dict[str, Callable[[Path, list[str], str], list[str]]] = {
    ".txt": _read_txt,
    ".csv": _read_csv,
    ".jsonl": _read_jsonl,
}


def read_texts(path: str | Path, text_column: str = "text") -> list[str]:
    """Texts of an input file, in file order (empty ones included: they keep their place in the output)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in READERS:
        supported = "; ".join(f"{ext} ({what})" for ext, what in FORMATS.items())
        raise InputFileError(f"input={path}: unsupported file type {suffix or '(none)'!r}. Supported: {supported}.")
    if not path.is_file():
        raise FileNotFoundError(f"input={path}: no such file.")
    lines = decoded_lines(path)
    if not any(line.strip() for line in lines):
        raise InputFileError(f"input={path}: the file is empty: nothing to predict.")
    return READERS[suffix](path, lines, text_column)


def write_jsonl(records: Iterable[dict], path: str | Path | None = None) -> None:
    """One JSON object per line, to `path` (parent folders created) or to stdout when `path` is None."""
    if path is None:
        for record in records:
            sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
        sys.stdout.flush()
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for record in records:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
