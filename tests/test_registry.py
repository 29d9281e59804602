"""Names come from one registry per kind: the CLI, the trainer and docs/names.md all read them."""

from __future__ import annotations

from pathlib import Path

import pytest

from scratchnet.cli import build_parser
from scratchnet.data import DATASETS
from scratchnet.names import names_markdown
from scratchnet.optim import OPTIMIZERS
from scratchnet.registry import Registry
from scratchnet.schedules import SCHEDULES, Schedule
from scratchnet.train import TrainConfig
from scratchnet.zoo import MODELS

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_docs_names_page_is_generated_from_the_registries():
    assert (DOCS / "names.md").read_text() == names_markdown(), "run: scratchnet names > docs/names.md"


def _choices(command: str, option: str) -> list[str]:
    sub = next(a for a in build_parser()._actions if a.dest == "command").choices[command]
    return list(next(a for a in sub._actions if option in a.option_strings).choices)


@pytest.mark.parametrize(
    ("option", "registry"),
    [("--dataset", DATASETS), ("--model", MODELS), ("--optimizer", OPTIMIZERS), ("--schedule", SCHEDULES)],
)
def test_cli_choices_are_the_registry(option, registry):
    for command in ("train", "sweep"):
        assert _choices(command, option) == registry.names()


def test_trainer_accepts_exactly_the_registered_names():
    for name in OPTIMIZERS:
        TrainConfig(optimizer=name)
    for name in SCHEDULES:
        TrainConfig(schedule=name)
        assert Schedule(name, total=10).factor(0) > 0
    with pytest.raises(ValueError, match=r"unknown optimizer 'sgdd'; choose from sgd, adam, adamw"):
        TrainConfig(optimizer="sgdd")
    with pytest.raises(ValueError, match=r"unknown schedule 'exponential'; choose from constant"):
        TrainConfig(schedule="exponential")


def test_registry_refuses_a_name_twice():
    reg: Registry[int] = Registry("thing")
    reg.add("a", 1, "first")
    with pytest.raises(ValueError, match="registered twice"):
        reg.add("a", 2, "again")
    assert reg.get("a") == 1 and "a" in reg and reg.names() == ["a"]
