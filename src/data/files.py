"""Why a local training file failed to load: the file, the line and the fix.

`datasets.load_dataset` reads good files fast but reports bad ones without a place ("Trailing data at
position 336", 'Instruction "train" corresponds to no data!'). `diagnose` runs only after such a failure and
reads the file line by line, with the UTF-8 decoder and the wording of the prediction input reader.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

from src.inference.inputs import CSV_FIELD_LIMIT, decoded_lines
from src.utils.errors import DataError

ROWS = {
    ".csv": "a header line, then one comma-separated row per line",
    ".tsv": "a header line, then one tab-separated row per line",
    ".json": "a JSON array of objects, or one JSON object per line",
    ".jsonl": 'one JSON object per line, e.g. {"text": "great film", "label": 1}',
    ".parquet": "rows with pandas' DataFrame.to_parquet",
}
JSON_TYPES = {
    list: "an array",
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "a boolean",
    type(None): "null",
}
SEPARATORS = {",": "commas", "\t": "tabs", ";": "semicolons"}
LEAVE_OUT = "(or leave the file out of data.path)."


def diagnose(path: Path, delimiter: str = ",") -> None:
    """Raise the DataError naming what is wrong in `path` (a file `datasets` failed to read, or read as no rows)
    and the fix; return when a line-by-line read finds nothing, so the caller falls back to its own message."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return _check_parquet(path)
    lines = decoded_lines(path)  # non-UTF-8 bytes: the file, line, byte, column and the iconv fix
    if not any(line.strip() for line in lines):
        raise DataError(f"{path}: holds no rows: the file is empty. Fix: write {ROWS.get(suffix, 'rows')} {LEAVE_OUT}")
    if suffix in (".csv", ".tsv"):
        return _check_csv(path, lines, delimiter)
    if suffix == ".jsonl" or _looks_like_json_lines(lines):
        return _check_json_lines(path, lines)
    return _check_json_document(path, lines)


def _check_csv(path: Path, lines: list[str], delimiter: str) -> None:
    rows = _csv_rows(path, lines, delimiter)
    _, header = next(rows)  # the file is not blank, so there is a first row
    count = 0
    for number, row in rows:
        if len(row) > len(header):
            names = f"the header line {delimiter.join(header)!r} names {len(header)}"
            raise DataError(
                f"{path}:{number}: {len(row)} fields, but {names}. Fix: wrap fields that contain "
                f"{_separators(delimiter)} in double quotes, or name every column in the header."
            )
        count += 1
    if not count:
        raise DataError(
            f"{path}: holds no rows, only the header line {delimiter.join(header)!r}. "
            f"Fix: add one row per line {LEAVE_OUT}"
        )


def _csv_rows(path: Path, lines: list[str], delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """(first line, fields) of each non-blank row; a quoting error names the line its row starts on."""
    csv.field_size_limit(max(csv.field_size_limit(), CSV_FIELD_LIMIT))
    reader = csv.reader(io.StringIO("\n".join(lines), newline=""), delimiter=delimiter, strict=True)
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader, None)
        except csv.Error as err:
            raise DataError(
                f"{path}:{start}: malformed CSV ({err}) in the row starting on this line. Fix the quoting: a field "
                f"that contains {_separators(delimiter)}, quotes or line breaks is wrapped in "
                'double quotes and its quotes doubled ("" inside "..."); an unclosed quote runs to the end of the file.'
            ) from None
        if row is None:
            return
        if row:  # pandas skips blank lines too
            yield start, row


def _separators(delimiter: str) -> str:
    return SEPARATORS.get(delimiter, repr(delimiter))


def _looks_like_json_lines(lines: list[str]) -> bool:
    """A .json file whose first line is a whole object holds JSON lines; otherwise it is one JSON document."""
    first = next(line.strip() for line in lines if line.strip())
    return first.startswith("{") and first.endswith("}")


def _check_json_lines(path: Path, lines: list[str]) -> None:
    fix = f"Fix: write {ROWS['.jsonl']}; a record may not span lines."
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(f"{path}:{number}: malformed JSON ({err.msg} at column {err.colno}). {fix}") from None
        if not isinstance(record, dict):
            raise DataError(f"{path}:{number}: {JSON_TYPES[type(record)]}, not a JSON object with named fields. {fix}")


def _check_json_document(path: Path, lines: list[str]) -> None:
    try:
        document = json.loads("\n".join(lines))
    except json.JSONDecodeError as err:
        raise DataError(
            f"{path}:{err.lineno}: malformed JSON ({err.msg} at column {err.colno}). "
            f"Fix: correct the JSON there; the file holds {ROWS['.json']}."
        ) from None
    if document in ([], {}):
        raise DataError(f"{path}: holds no rows: the JSON document is empty. Fix: write {ROWS['.json']} {LEAVE_OUT}")


def _check_parquet(path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if path.stat().st_size == 0:
        raise DataError(f"{path}: holds no rows: the file is empty. Fix: write {ROWS['.parquet']} {LEAVE_OUT}")
    try:
        rows = pq.read_metadata(path).num_rows
    except pa.ArrowException as err:
        raise DataError(
            f"{path}: not a Parquet file ({err}). Fix: write it with pandas' DataFrame.to_parquet, "
            "or give it the suffix of its real format (.csv, .tsv, .json, .jsonl)."
        ) from None
    if not rows:
        raise DataError(f"{path}: holds no rows (a Parquet file with 0 rows). Fix: write the rows again {LEAVE_OUT}")
