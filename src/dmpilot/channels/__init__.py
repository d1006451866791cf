"""Platform adapters: parsing inbound payloads, rendering replies, sending them."""

from __future__ import annotations


class PayloadError(ValueError):
    """A webhook body that cannot be understood; `problems` says what and where."""

    def __init__(
        self, problems: list[str], headline: str = "the ManyChat body is not usable"
    ) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems
        self.headline = headline
