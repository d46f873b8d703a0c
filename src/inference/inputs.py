"""Prediction inputs: the fields a task's model reads, read from .txt/.csv/.jsonl files or given directly, and
JSON-lines predictions out.

A task declares its input fields (`Task.fields`: a text, a pair of texts, a question with its context, a
question with a list of choices); files are read by those fields, so no reader assumes one text per row.
Bad files stop the run with the file, the line (or row) and the fix; an empty text inside a good file
does not: the predictor answers it with a per-row error record, so one blank line never costs a batch.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from src.utils.errors import ConfigError, DataError, MissingError

FORMATS = {
    ".txt": "one text per line (models that read one text)",
    ".csv": "a header row and a column per input field (a list field: one column per element, or a JSON array)",
    ".jsonl": "one JSON object per line holding every input field (a list field as a JSON array of strings)",
}
CSV_FIELD_LIMIT = 2**30  # csv's default (131072 characters) is shorter than some real documents


@dataclass(frozen=True)
class Field:
    """One input field a task's model reads at prediction time (`Task.fields`): a text, or a list of texts
    (`many`, e.g. the candidate answers of a multiple-choice question)."""

    name: str
    many: bool = False
    required: bool = True
    help: str = ""

    @property
    def column_key(self) -> str:
        """The predict config key naming the file column (or JSON field) that holds this field."""
        return f"{self.name}_column"


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


Columns = Mapping[str, "str | Sequence[str]"]  # field -> its column (a list field: one column per element)


def _column(field: Field, columns: Columns) -> str | list[str]:
    spec = columns.get(field.name, field.name)
    return spec if isinstance(spec, str) else list(spec)


def _read_txt(path: Path, lines: list[str], fields: Sequence[Field], columns: Columns) -> list[dict]:
    needed = [f for f in fields if f.required or f.name in columns]
    if len(needed) != 1 or needed[0].many:
        names = ", ".join(f.name for f in needed)
        raise InputFileError(
            f"{path}: a .txt file holds one text per line, but this model reads {names}. Fix: use .csv or .jsonl."
        )
    return [{needed[0].name: line} for line in lines]  # line N is input N; a blank line is an error record


def _csv_value(field: Field, row: dict, spec: str | list[str], where: str) -> str | list[str]:
    if isinstance(spec, list):  # one column per element of a list field; empty cells are absent elements
        return [row[c] for c in spec if row.get(c)]
    cell = row.get(spec) or ""
    if not field.many:
        return cell
    try:
        value = json.loads(cell)
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputFileError(
            f"{where}: column {spec!r} holds {cell[:80]!r}, not a JSON array of strings. Fix: write the "
            f'{field.name} as ["a", "b", ...], or give one column per element: {field.column_key}=[col1,col2,...].'
        )
    return value


def _read_csv(path: Path, lines: list[str], fields: Sequence[Field], columns: Columns) -> list[dict]:
    csv.field_size_limit(max(csv.field_size_limit(), CSV_FIELD_LIMIT))
    reader = csv.DictReader(io.StringIO("\n".join(lines), newline=""), strict=True)  # bad quoting raises
    try:
        header = reader.fieldnames or []
        present = []
        for field in fields:
            spec = _column(field, columns)
            absent = [c for c in ([spec] if isinstance(spec, str) else spec) if c not in header]
            if absent and (field.required or field.name in columns):
                raise InputFileError(
                    f"{path}: no column {absent[0]!r}; the header has {header}. Fix: {field.column_key}=<one of them>."
                )
            if not absent:
                present.append((field, spec))
        rows = [
            {f.name: _csv_value(f, row, spec, f"{path}:{reader.line_num}") for f, spec in present} for row in reader
        ]  # a short row: empty texts
    except csv.Error as err:
        raise InputFileError(
            f"{path}:{reader.line_num + 1}: malformed CSV ({err}) in the row starting on this line. "
            "Fix the quoting: a field that contains commas, "
            'quotes or line breaks is wrapped in double quotes and its quotes doubled ("" inside "..."); '
            "an unclosed quote runs to the end of the file."
        ) from None
    if not rows:
        raise InputFileError(f"{path}: a header but no rows: nothing to predict.")
    return rows


def _json_value(field: Field, record: dict, spec: str | list[str], where: str) -> str | list[str] | None:
    """A field of one JSON record (None: absent and optional); raises naming the line for a missing or
    mistyped one."""
    keys = [spec] if isinstance(spec, str) else spec
    missing = [k for k in keys if k not in record]
    if missing:
        if not field.required and field.name not in record and isinstance(spec, str):
            return None
        raise InputFileError(
            f"{where}: no field {missing[0]!r} (found fields {sorted(record)}). "
            f"Fix: {field.column_key}=<field name>; every line must be an object holding it."
        )
    if isinstance(spec, list):
        value: Any = [record[k] for k in spec if record[k]]
    else:
        value = record[spec]
    if field.many:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InputFileError(f"{where}: field {spec!r} is {value!r}, not a list of strings.")
        return value
    if value is not None and not isinstance(value, str):
        raise InputFileError(f"{where}: field {spec!r} is {value!r}, not a string.")
    return value or ""


def _read_jsonl(path: Path, lines: list[str], fields: Sequence[Field], columns: Columns) -> list[dict]:
    rows = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue  # blank lines separate nothing in JSON lines
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise InputFileError(f"{path}:{number}: malformed JSON ({err.msg} at column {err.colno}).") from None
        if not isinstance(record, dict):
            field = next(f for f in fields if f.required)
            raise InputFileError(
                f"{path}:{number}: no field {_column(field, columns)!r} (found a JSON {type(record).__name__}). "
                f"Fix: {field.column_key}=<field name>; every line must be an object holding it."
            )
        row = {}
        for field in fields:
            value = _json_value(field, record, _column(field, columns), f"{path}:{number}")
            if value is not None:
                row[field.name] = value
        rows.append(row)
    return rows


READERS: dict[str, Callable[[Path, list[str], Sequence[Field], Columns], list[dict]]] = {
    ".txt": _read_txt,
    ".csv": _read_csv,
    ".jsonl": _read_jsonl,
}


def read_texts(path: str | Path, text_column: str = "text") -> list[str]:
    """The texts of an input file of single texts, in file order."""
    return [row["text"] for row in read_inputs(path, [Field("text")], {"text": text_column})]


def read_inputs(path: str | Path, fields: Sequence[Field], columns: Columns | None = None) -> list[dict]:
    """Rows of an input file, in file order (empty ones included: they keep their place in the output), each
    holding the `fields` the model reads; `columns` maps a field to its column or JSON field (default: the
    field's own name; a list field may name one column per element)."""
    path, columns = Path(path), dict(columns or {})
    unknown = sorted(set(columns) - {f.name for f in fields})
    if unknown:
        raise ConfigError(
            f"{', '.join(f'{u}_column' for u in unknown)}: this model reads no field {unknown[0]!r}; its input "
            f"fields are {[f.name for f in fields]}."
        )
    suffix = path.suffix.lower()
    if suffix not in READERS:
        supported = "; ".join(f"{ext} ({what})" for ext, what in FORMATS.items())
        raise InputFileError(f"input={path}: unsupported file type {suffix or '(none)'!r}. Supported: {supported}.")
    if not path.is_file():
        raise MissingError(f"input={path}: no such file.")
    lines = decoded_lines(path)
    if not any(line.strip() for line in lines):
        raise InputFileError(f"input={path}: the file is empty: nothing to predict.")
    return READERS[suffix](path, lines, fields, columns)


def check_rows(rows: Sequence[dict[str, Any]], fields: Sequence[Field], model: str) -> None:
    """Refuse inputs the model cannot read: a field it does not know, a required one missing, a wrong type.
    (An empty text is not refused here: it gets an error record, see `empty_field`.)"""
    known = {f.name: f for f in fields}
    for i, row in enumerate(rows):
        unknown = sorted(set(row) - set(known))
        if unknown:
            raise ConfigError(
                f"This {model} model reads the input fields {list(known)}; input {i} also has {unknown}. "
                f"Fix: drop {', '.join(unknown)} (and {', '.join(f'{u}_column' for u in unknown)})."
            )
        for field in fields:
            value = row.get(field.name)
            if value is None and field.required:
                raise ConfigError(
                    f"This {model} model reads {', '.join(f.name for f in fields if f.required)}; input {i} has no "
                    f"{field.name!r}{f' ({field.help})' if field.help else ''}. Fix: give {field.name}=... on the "
                    f"command line, or name its file column: {field.column_key}=<column>."
                )
            if value is not None and not _typed(value, field):
                kind = "a list of texts" if field.many else "a text"
                raise ConfigError(f"Input {i}: {field.name} must be {kind}, got {value!r}.")


def _typed(value: Any, field: Field) -> bool:
    if field.many:
        return isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)
    return isinstance(value, str)


def empty_field(row: dict[str, Any], fields: Sequence[Field]) -> str | None:
    """The first field of a row that holds no text (an error record names it), or None."""
    for field in fields:
        value = row.get(field.name)
        if value is None:
            continue
        values = value if field.many else [value]
        if not values or not all(v.strip() for v in values):
            return field.name
    return None


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
