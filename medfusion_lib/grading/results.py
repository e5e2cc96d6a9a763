"""What grading produces: a result per exercise, and per submission."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

#: Status of one exercise in one submission.
EXERCISE_STATUSES = ("passed", "failed", "error", "timeout", "killed", "not_attempted", "tampered", "invalid")


@dataclass
class TestOutcome:
    """One instructor test cell: visible checks (message shown) and hidden checks (name and result only)."""

    grade_id: str
    points: float
    max_points: float
    passed: bool
    message: str = ""                  # the failing visible check's error, for the student
    hidden: bool | None = None         # None: this test cell has no hidden checks; else whether they passed


@dataclass
class ExerciseResult:
    exercise: str
    points: float
    max_points: float
    status: str
    message: str = ""
    seconds: float = 0.0
    tests: list[TestOutcome] = field(default_factory=list)

    def __post_init__(self):
        if self.status not in EXERCISE_STATUSES:
            raise ValueError(f"unknown status {self.status!r}")


@dataclass
class SubmissionResult:
    student: str
    assignment: str
    sha256: str
    exercises: list[ExerciseResult]
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    executed: dict | None = None        # the executed notebook (nbformat JSON), for the instructor only

    @property
    def points(self) -> float:
        return sum(e.points for e in self.exercises)

    @property
    def max_points(self) -> float:
        return sum(e.max_points for e in self.exercises)

    def to_json(self) -> dict:
        """Everything but the executed notebook (that is written to its own file)."""
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "executed"}
        data["exercises"] = [asdict(e) for e in self.exercises]
        data["notes"] = list(self.notes)
        return data

    @classmethod
    def from_json(cls, data: dict) -> "SubmissionResult":
        exercises = [ExerciseResult(**{**e, "tests": [TestOutcome(**t) for t in e.get("tests", [])]})
                     for e in data["exercises"]]
        return cls(**{**data, "exercises": exercises, "executed": data.get("executed")})
