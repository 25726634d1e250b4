"""One error tree; each class owns its exit code (SPEC section 2).

Library code raises these at the loading edge and never prints or exits;
`auditor.cli` turns them into one line on stderr and the exit code.
"""

from __future__ import annotations


class AuditorError(Exception):
    """Base of every error the tool reports to a user."""

    exit_code = 3


class InputError(AuditorError):
    """Unusable input: capture, inventory, rules or arguments (exit 2).

    The message is already the whole line a user sees, naming the file and the
    line, field or byte offset: ``inventory.yaml:14: host 'vra-dr-2': unknown
    site 'dr2' (known: prod, dr)`` or ``x.pcap: byte 24: record claims 4 GB``.
    """

    exit_code = 2

    def __init__(self, message: str, *, more: int = 0) -> None:
        # `more`: how many further problems the same file has (SPEC: "the first
        # one and a count of the rest").
        self.more = more
        super().__init__(message)

    def line(self) -> str:
        if self.more:
            return f"{self.args[0]} (and {self.more} more problem{'s' if self.more > 1 else ''})"
        return str(self.args[0])


class CaptureError(InputError):
    """A capture file that cannot be read at all."""


class InventoryError(InputError):
    """A bad inventory file."""


class RulesError(InputError):
    """A bad rules file."""


class UsageError(InputError):
    """Bad command-line arguments."""


class InternalError(AuditorError):
    """A bug (exit 3)."""

    exit_code = 3
