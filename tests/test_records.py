"""The op records (``scratchnet/ops/record.py``): complete, found, and the one source of what is
derived from them. An op added without its record, or a record that names what does not exist,
fails here; so does a derived list (exports, docs table, diagram colours) that disagrees."""

from __future__ import annotations

import ast
import dataclasses
import re
from pathlib import Path

import pytest
from op_table import TABLE

import scratchnet.ops as ops
from scratchnet import diagram, layers, losses
from scratchnet.layers import Layer
from scratchnet.ops.record import FAMILIES, OpRecord, docs_table, family_of

ROOT = Path(__file__).resolve().parents[1]
RECORDS = ops.RECORDS
# layers that wrap no op of their own: shapes, merges and blocks (their gradients are the
# composition rules of docs/composition.md)
NOT_OPS = {"Layer", "Flatten", "Identity", "Reshape", "Add", "Concat", "Residual"}


def _wrapper(name: str) -> type | None:
    return getattr(layers, name, None) or getattr(losses, name, None)


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: r.name)
def test_each_record_is_complete(record: OpRecord):
    """Its functions are the module's own pair, its layers exist and wrap it, its page exists and
    names its forward function."""
    module = record.forward.__module__
    assert record.forward.__name__.endswith("_forward") and record.backward.__name__.endswith("_backward")
    assert record.backward.__module__ == module and all(f.__module__ == module for f in record.helpers)
    for name in record.layers:
        cls = _wrapper(name)
        assert isinstance(cls, type), f"{record.name}: no layer or loss {name!r}"
    page = ROOT / "docs" / record.docs
    assert page.is_file(), f"{record.name}: docs/{record.docs} does not exist"
    assert record.forward.__name__ in page.read_text() or record.name in page.read_text().lower()
    assert record.topic and record.family in FAMILIES


def test_a_record_cannot_be_left_incomplete():
    """Every field but the helpers must be given, by keyword; a family or page out of the lists is
    refused when the module is imported."""
    fields = {f.name for f in dataclasses.fields(OpRecord) if f.default is dataclasses.MISSING}
    assert fields == {"name", "forward", "backward", "layers", "family", "docs", "topic"}
    r = RECORDS[0]
    with pytest.raises(TypeError):
        OpRecord(r.name, r.forward, r.backward, r.layers, r.family, r.docs, r.topic)  # positional
    with pytest.raises(TypeError, match="topic"):
        OpRecord(name="x", forward=r.forward, backward=r.backward, layers=(), family="conv", docs="conv.md")
    with pytest.raises(ValueError, match="family 'convolution'"):
        dataclasses.replace(r, family="convolution")
    with pytest.raises(ValueError, match="docs must name a page"):
        dataclasses.replace(r, docs="docs/conv.md")


def test_every_op_function_belongs_to_a_record():
    """Each public ``*_forward``/``*_backward`` function of an op module is in a record (the slow
    twins of ``ops/naive/`` are twins, not ops), and ``scratchnet.ops`` exports exactly the
    records' functions."""
    recorded = {f"{f.__module__}.{f.__name__}" for r in RECORDS for f in r.functions}
    missing = []
    for path in sorted((ROOT / "scratchnet" / "ops").glob("[!_]*.py")):
        if path.stem in ("record", "workspace"):
            continue
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef) and re.fullmatch(r"[a-z]\w*_(forward|backward)", node.name):
                if f"scratchnet.ops.{path.stem}.{node.name}" not in recorded:
                    missing.append(f"scratchnet/ops/{path.name}: {node.name}")
    assert not missing, "\n".join(missing)
    exported = {n for n in ops.__all__ if callable(getattr(ops, n)) and not isinstance(getattr(ops, n), type)}
    assert exported - {"scratch"} == {f.__name__ for r in RECORDS for f in r.functions}


def test_every_layer_is_an_op_s_or_a_composition():
    """Each layer class of ``scratchnet.layers`` and loss of ``scratchnet.losses`` wraps the op of a
    record, or is one of the few that wrap none (``NOT_OPS``)."""
    wrapped = {name for r in RECORDS for name in r.layers}
    classes = {n for n, c in vars(layers).items() if isinstance(c, type) and issubclass(c, Layer)}
    classes |= {n for n, c in vars(losses).items() if isinstance(c, type) and issubclass(c, losses.Loss)}
    classes -= {"Loss"}
    assert not (classes - wrapped - NOT_OPS), sorted(classes - wrapped - NOT_OPS)
    assert not (NOT_OPS & wrapped)


def test_every_record_s_layer_has_an_entry_in_the_op_table():
    """What a record builds is checked: each of its layers is an entry of the op table (or the
    prefix of entries: ``BatchNorm2D-train``, ``ELU(0.5)``)."""
    entries = {re.split(r"[-(]", op.name)[0] for op in TABLE}
    missing = [f"{r.name}: {name}" for r in RECORDS for name in r.layers if name not in entries]
    assert not missing, missing


def test_the_docs_table_is_generated_from_the_records():
    """docs/README.md's derivations table starts with ``python -m scratchnet.ops``'s rows."""
    assert docs_table(RECORDS) in (ROOT / "docs" / "README.md").read_text(), "run: python -m scratchnet.ops"


def test_the_docs_table_names_every_layer_of_a_record():
    """The generated table names each layer beside its op's derivation (what the overview,
    docs/inside.md, points to instead of keeping a list of its own)."""
    table = docs_table(RECORDS)
    missing = [name for r in RECORDS for name in r.layers if f"`{name}`" not in table]
    assert not missing, missing
    assert "[the derivations table](README.md)" in (ROOT / "docs" / "inside.md").read_text()


def test_the_diagram_colours_a_layer_by_its_op_s_family():
    conv, lstm, flat = layers.Conv2D(1, 2, 3), layers.LSTM(3, 4), layers.Flatten()
    assert family_of(RECORDS, "Conv2D") == "conv" and family_of(RECORDS, "Embedding") == "recurrent"
    assert diagram.box_colour(conv) == diagram.FAMILY_COLOURS["conv"]
    assert diagram.box_colour(lstm) == diagram.FAMILY_COLOURS["recurrent"]
    assert diagram.box_colour(flat) == "#f7f7f7"


def test_the_checker_s_ops_agree_with_the_records():
    """An op students can check names the library's layer it is graded against and its derivation
    page; both are the record's of that layer (the checker's catalogue is keyed by the courses' op
    names, ``softmax-ce`` or ``lstm-step``, so it keeps its own table, held to the records here)."""
    from scratchnet.check import OPS

    for name, spec in OPS.items():
        if spec.layer is None:  # the step functions of the courses, no layer of ours
            continue
        record = next(r for r in RECORDS if spec.layer in r.layers)
        assert spec.doc == f"docs/{record.docs}", (name, spec.doc, record.docs)
