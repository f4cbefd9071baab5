"""synthforge from Python: run flows, read and write datasets, dedup, scan for PII and
measure diversity with the same C++ engine as the ``synthforge`` command.

Records are plain dicts (columns in order); a dataset is a list of them. pandas is
optional: ``to_pandas`` / ``from_pandas`` convert, and ``run_flow`` accepts a DataFrame.
Long C++ work runs without the GIL. Errors are ``synthforge.UserError`` (and its
subclasses ``ConfigError``, ``InputError``) or ``synthforge.RunError``, carrying the
engine's message, which names the file, line, block and field at fault.

See docs/python.md.
"""

import os
import tempfile
from pathlib import Path

from . import _synthforge
from ._synthforge import (
    ConfigError,
    InputError,
    PiiScanner,
    RunError,
    RunInterrupted,
    UserError,
    dedup_exact,
    dedup_minhash,
    dedup_rougel,
    diversity_metrics,
    pii_entity_types,
    read_records,
    rouge_l,
    shingle_jaccard,
    similarity_to_reference,
    write_records,
)

__version__ = _synthforge.__version__

__all__ = [
    "ConfigError", "InputError", "PiiScanner", "RunError", "RunInterrupted", "RunResult", "UserError",
    "__version__", "dedup_exact", "dedup_minhash", "dedup_rougel", "diversity_metrics", "from_pandas",
    "pii_entity_types", "read_records", "redact_pii", "rouge_l", "run", "run_flow", "scan_pii",
    "shingle_jaccard", "similarity_to_reference", "to_pandas", "write_records",
]


def to_pandas(rows):
    """A list of records as a DataFrame (columns in first-seen order)."""
    import pandas as pd

    return pd.DataFrame.from_records(list(rows))


def from_pandas(df):
    """A DataFrame as a list of records; missing cells (NaN, None, NaT) become None."""
    # object dtype first, so that where() can hold None in numeric columns too.
    clean = df.astype(object).where(df.notna(), None)
    return clean.to_dict(orient="records")


def _is_dataframe(value):
    return type(value).__name__ == "DataFrame" and hasattr(value, "to_dict")


class RunResult:
    """What a finished run left: the output rows, the rejected rows (each with
    ``_rejected_by`` and ``_reason``) and the run summary (counts per block, paths)."""

    def __init__(self, rows, rejected, summary):
        self.rows = rows
        self.rejected = rejected
        self.summary = summary
        self.run_dir = summary["run_dir"]

    def to_pandas(self):
        return to_pandas(self.rows)

    def __repr__(self):
        return (f"RunResult({len(self.rows)} rows, {len(self.rejected)} rejected, "
                f"run_dir={self.run_dir!r})")


def run(flow, inputs=None, params=None, run_dir=None, *, seed=0, output=None, input_format="",
        text_unit="line", skip_bad_records=False, batch_size=1000, resume=False, plugins=(),
        allow_paths=()):
    """Runs the flow file ``flow`` and returns a RunResult.

    inputs: None (the flow generates its own records, or has none), a list of dicts, a
    DataFrame, or a path (or list of paths) to jsonl/json/csv/txt files. Rows given in
    memory are written to ``run_dir/input.jsonl`` first, so a run can be resumed.
    params: flow parameters, as ``--set NAME=VALUE`` (``llm.NAME`` / ``sampling.NAME`` too);
    values keep their Python type. run_dir: the run directory (default: a new temporary
    directory, kept after the run so its output, rejects and run store can be inspected).
    allow_paths: folders (or files) outside the flow's folder that its blocks may read, as
    ``--allow-path``; a path given as a ``params`` value is allowed without it.
    """
    if run_dir is None:
        run_dir = tempfile.mkdtemp(prefix="synthforge-run-")
    run_dir = Path(run_dir)
    paths = []
    if inputs is None:
        pass
    elif isinstance(inputs, (str, os.PathLike)):
        paths = [os.fspath(inputs)]
    else:
        if _is_dataframe(inputs):
            rows = from_pandas(inputs)
        else:
            inputs = list(inputs)
            if inputs and all(isinstance(i, (str, os.PathLike)) for i in inputs):
                paths = [os.fspath(i) for i in inputs]
                rows = None
            else:
                rows = inputs
        if not paths:
            # The run store lives in run_dir, and a resume rereads the same inputs: the rows
            # are kept there beside it (a resume with other rows is refused by the engine).
            run_dir.mkdir(parents=True, exist_ok=True)
            path = run_dir / "input.jsonl"
            if not resume:
                write_records(path, rows, "jsonl")
            paths = [os.fspath(path)]
    summary = _synthforge.run(
        os.fspath(flow), paths, dict(params or {}), os.fspath(run_dir), seed,
        "" if output is None else os.fspath(output), input_format, text_unit, skip_bad_records,
        batch_size, resume, [os.fspath(p) for p in plugins], [os.fspath(p) for p in allow_paths])
    out_path = summary["output"]
    rows = read_records(out_path) if os.path.exists(out_path) else []
    rejects = summary["rejects"]
    rejected = read_records(rejects, "jsonl") if rejects and os.path.exists(rejects) else []
    return RunResult(rows, rejected, summary)


def run_flow(flow, inputs=None, params=None, run_dir=None, **options):
    """Runs a flow and returns its output rows (a list of dicts); ``run`` also gives the
    rejected rows and the summary. Takes the same arguments as ``run``."""
    return run(flow, inputs, params, run_dir, **options).rows


def scan_pii(texts, **options):
    """PII findings in one text (a list of dicts) or in each of a list of texts. Each
    finding has type, kind, start/end (str indices), byte_start/byte_end (UTF-8), text and
    score. options: entities, phone_regions, min_score, patterns, deny_lists (PiiScanner)."""
    scanner = PiiScanner(**options)
    if isinstance(texts, str):
        return scanner.scan(texts)
    return scanner.scan_many(list(texts))


def redact_pii(texts, placeholder="<{type}>", surrogate=False, seed=0, **options):
    """The text (or texts) with every PII finding replaced by ``placeholder`` ({type} is
    the finding's type) or, with surrogate=True, by a consistent fake value."""
    scanner = PiiScanner(**options)
    if isinstance(texts, str):
        return scanner.redact_many([texts], placeholder, surrogate, seed)[0]
    return scanner.redact_many(list(texts), placeholder, surrogate, seed)
