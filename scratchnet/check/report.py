"""A submission's report: one verdict per case and check, the first failure in detail, the
mistake named, and the formats a teacher needs (JSON, Gradescope's ``results.json``, a CSV line).

The verdicts, in words: ``passed``; ``wrong`` (with the details); ``crashed`` (the traceback's
last lines); ``stopped: time limit``; ``stopped: memory limit``; ``exited`` (the submission called
``exit``); ``not run`` (a case after the one the submission was stopped in). A submission passes
when every check passed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

PASSED, WRONG, NOT_RUN = "passed", "wrong", "not run"


@dataclass
class Check:
    """One check: ``name`` is a result (``out``, ``dx``, ``dw``, ...) of case ``case`` (1-based)."""

    case: int
    name: str
    verdict: str
    detail: str = ""  # for the first failure: shapes, worst element, expected vs got, error
    mistake: str | None = None  # the catalogue's name of the wrong answer it equals
    says: str = ""  # the catalogue's sentence for it

    @property
    def passed(self) -> bool:
        return self.verdict == PASSED

    def line(self) -> str:
        text = f"  case {self.case}  {self.name:<7} {self.verdict}"
        if self.mistake:
            text += f": {self.mistake}"
        return text


@dataclass
class Report:
    op: str
    submission: str  # the file's name, or the functions' names
    style: str = ""
    functions: list[str] = field(default_factory=list)
    cases: list[str] = field(default_factory=list)  # the inputs of each case, in words
    checks: list[Check] = field(default_factory=list)
    problem: str = ""  # why nothing could be checked (not found, import crashed)
    notes: list[str] = field(default_factory=list)
    output: str = ""  # the submission's own printing (its tail)
    seconds: float = 0.0

    @property
    def score(self) -> int:
        return sum(c.passed for c in self.checks)

    @property
    def max_score(self) -> int:
        return len(self.checks)

    @property
    def passed(self) -> bool:
        return bool(self.checks) and self.score == self.max_score

    @property
    def verdict(self) -> str:
        """``passed``, or the first failing check's verdict."""
        first = self.first_failure
        return PASSED if first is None else first.verdict

    @property
    def first_failure(self) -> Check | None:
        return next((c for c in self.checks if not c.passed), None)

    def mistakes(self) -> list[str]:
        """Every named mistake, each once, in order of appearance."""
        return list(dict.fromkeys(c.mistake for c in self.checks if c.mistake))

    # --- formats ------------------------------------------------------------------------------------
    def text(self) -> str:
        """The readable report: a line per case and check, then the first failure in detail."""
        how = f" ({self.style}: {', '.join(self.functions)})" if self.functions else ""
        lines = [f"scratchnet check {self.op}: {self.submission}{how}"]
        if self.problem:
            lines.append(f"  {self.problem}")
        shown = 0
        for check in self.checks:
            if check.case != shown:
                shown = check.case
                lines.append(f" case {shown}: {self.cases[shown - 1]}")
            lines.append(check.line())
        first = self.first_failure
        if first is not None:
            lines += ["", f"first failure: case {first.case}, {first.name}: {first.verdict}"]
            if first.detail:
                lines += [f"  {line}" for line in first.detail.splitlines()]
            if first.says:
                lines.append(f"  looks like {first.mistake!r}: {first.says}")
        for mistake in self.mistakes():
            if first is None or mistake != first.mistake:
                says = next(c.says for c in self.checks if c.mistake == mistake)
                lines.append(f"  also {mistake!r}: {says}")
        lines += [f"  note: {n}" for n in self.notes]
        if self.output.strip() and not self.passed:
            lines += ["", "the submission printed (last lines):",
                      *[f"  | {line}" for line in self.output.strip().splitlines()[-8:]]]  # fmt: skip
        lines += ["", f"{self.score}/{self.max_score} checks passed"
                  + ("" if self.passed else f"; verdict: {self.verdict}")]  # fmt: skip
        return "\n".join(lines) + "\n"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(score=self.score, max_score=self.max_score, verdict=self.verdict, mistakes=self.mistakes())
        return data

    def gradescope(self) -> dict[str, Any]:
        """Gradescope's autograder ``results.json``: one test per check, one point each."""
        tests = []
        for c in self.checks:
            output = "\n".join(filter(None, [c.detail, f"{c.mistake}: {c.says}" if c.mistake else ""]))
            tests.append({"name": f"{self.op} case {c.case} ({self.cases[c.case - 1]}): {c.name}",
                          "score": float(c.passed), "max_score": 1.0,
                          "status": "passed" if c.passed else "failed",
                          "output": f"{c.verdict}\n{output}".strip()})  # fmt: skip
        return {"score": float(self.score), "max_score": float(self.max_score), "output": self.text(),
                "tests": tests}  # fmt: skip

    def csv_row(self) -> dict[str, Any]:
        first = self.first_failure
        return {"submission": self.submission, "op": self.op, "score": self.score, "max_score": self.max_score,
                "verdict": self.verdict, "first_failure": f"case {first.case} {first.name}" if first else "",
                "mistakes": "; ".join(self.mistakes()), "seconds": round(self.seconds, 2)}  # fmt: skip
