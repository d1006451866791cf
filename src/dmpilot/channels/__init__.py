"""Platform adapters: parsing inbound payloads and rendering replies."""

from __future__ import annotations


class PayloadError(ValueError):
    """A webhook body that cannot be understood; `problems` says what and where."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems
