"""A submission's report: one verdict per case and check, the first failure in detail, the
mistake named, and the formats a teacher needs (JSON, Gradescope's ``results.json``, a CSV line).

The verdicts, in words: ``passed``; ``wrong`` (with the details); ``not found`` (the function is
missing: the other one is still graded); ``crashed`` (the traceback's last lines, or why the
process ended); ``stopped: time limit``; ``stopped: memory limit``; ``exited`` (the submission
called ``exit`` or ended its own process); ``not run`` (a case after the one the submission was
stopped in); for a class, ``no submission`` (on the roster, nothing handed in) and ``grader
error`` (the grader's own fault, never a submission's). A submission passes when every check
passed. Each check has its points (one unless the course weighs it) and may belong to a hidden
case (counted, its inputs and details not shown).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

PASSED, WRONG, NOT_RUN, NOT_FOUND = "passed", "wrong", "not run", "not found"
VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")  # Gradescope's settings


def points(x: float) -> str:
    """A score as a teacher writes it: ``24``, ``22.5``."""
    return f"{x:g}"


@dataclass
class Check:
    """One check: ``name`` is a result (``out``, ``dx``, ``dw``, ...) of case ``case`` (1-based)."""

    case: int
    name: str
    verdict: str
    detail: str = ""  # for the first failure: shapes, worst element, expected vs got, error
    mistake: str | None = None  # the catalogue's name of the wrong answer it equals
    says: str = ""  # the catalogue's sentence for it
    weight: float = 1.0  # its points (the course's weights)
    hidden: bool = False  # a hidden case: counted, its inputs and details not shown

    @property
    def passed(self) -> bool:
        return self.verdict == PASSED

    def line(self) -> str:
        text = f"  case {self.case}  {self.name:<11} {self.verdict}"
        if self.mistake and not self.hidden:
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
    sandboxed: bool = False
    warnings: list[str] = field(default_factory=list)  # e.g. graded without the sandbox
    seed: int = 0

    @property
    def score(self) -> float:
        return sum(c.weight for c in self.checks if c.passed)

    @property
    def max_score(self) -> float:
        return sum(c.weight for c in self.checks)

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

    def mistakes(self, shown_only: bool = False) -> list[str]:
        """Every named mistake, each once, in order of appearance (``shown_only``: of shown cases)."""
        return list(
            dict.fromkeys(c.mistake for c in self.checks if c.mistake and not (shown_only and c.hidden))
        )

    # --- formats ------------------------------------------------------------------------------------
    def text(self) -> str:
        """The readable report: a line per case and check, then the first failure in detail."""
        how = f" ({self.style}: {', '.join(self.functions)})" if self.functions else ""
        lines = [f"scratchnet check {self.op}: {self.submission}{how}"]
        lines += [f"  WARNING: {w}" for w in self.warnings]
        if self.problem:
            lines.append(f"  {self.problem}")
        shown = 0
        for check in self.checks:
            if check.case != shown:
                shown = check.case
                lines.append(f" case {shown}: " + ("hidden" if check.hidden else self.cases[shown - 1]))
            lines.append(check.line())
        first = self.first_failure
        if first is not None and first.hidden:
            lines += ["", f"first failure: case {first.case} (hidden), {first.name}: {first.verdict}"]
        elif first is not None:
            lines += ["", f"first failure: case {first.case}, {first.name}: {first.verdict}"]
            if first.detail:
                lines += [f"  {line}" for line in first.detail.splitlines()]
            if first.says:
                lines.append(f"  looks like {first.mistake!r}: {first.says}")
        for mistake in self.mistakes(shown_only=True):
            if first is None or mistake != first.mistake:
                says = next(c.says for c in self.checks if c.mistake == mistake)
                lines.append(f"  also {mistake!r}: {says}")
        lines += [f"  note: {n}" for n in self.notes]
        if self.output.strip() and not self.passed:
            lines += ["", "the submission printed (last lines):",
                      *[f"  | {line}" for line in self.output.strip().splitlines()[-8:]]]  # fmt: skip
        lines += ["", f"{points(self.score)}/{points(self.max_score)} points; "
                  f"{sum(c.passed for c in self.checks)} of {len(self.checks)} checks passed"
                  + ("" if self.passed else f"; verdict: {self.verdict}")]  # fmt: skip
        return "\n".join(lines) + "\n"

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Report:
        """The report :meth:`to_json` wrote (a resumed run reads its earlier reports back)."""
        names = {f for f in cls.__dataclass_fields__}
        fields = {k: v for k, v in data.items() if k in names and k != "checks"}
        return cls(**fields, checks=[Check(**c) for c in data.get("checks", [])])

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(score=self.score, max_score=self.max_score, verdict=self.verdict, mistakes=self.mistakes())
        return data

    def gradescope(
        self, visibility: str = "visible", hidden_visibility: str = "after_published"
    ) -> dict[str, Any]:
        """Gradescope's autograder ``results.json``: one test per check with its points; the
        submission's ``execution_time``; ``visibility`` for the whole result and for each shown
        test, ``hidden_visibility`` for the hidden cases' tests (Gradescope's values: ``visible``,
        ``hidden``, ``after_due_date``, ``after_published``)."""
        tests = []
        for c in self.checks:
            output = "\n".join(filter(None, [c.detail, f"{c.mistake}: {c.says}" if c.mistake else ""]))
            inputs = "hidden" if c.hidden else self.cases[c.case - 1]
            tests.append({"name": f"{self.op} case {c.case} ({inputs}): {c.name}",
                          "score": c.weight * c.passed, "max_score": c.weight,
                          "status": "passed" if c.passed else "failed",
                          "visibility": hidden_visibility if c.hidden else visibility,
                          "output": c.verdict if c.hidden else f"{c.verdict}\n{output}".strip()})  # fmt: skip
        return {"score": float(self.score), "max_score": float(self.max_score), "output": self.text(),
                "execution_time": round(self.seconds, 3), "visibility": visibility,
                "stdout_visibility": "hidden", "tests": tests}  # fmt: skip

    def csv_row(self) -> dict[str, Any]:
        first = self.first_failure
        return {"submission": self.submission, "op": self.op, "score": self.score, "max_score": self.max_score,
                "verdict": self.verdict, "first_failure": f"case {first.case} {first.name}" if first else "",
                "mistakes": "; ".join(self.mistakes()), "seconds": round(self.seconds, 2),
                "sandboxed": self.sandboxed, "notes": "; ".join(self.notes)}  # fmt: skip
