"""zvr-audit: audit packet captures of a Zerto Virtual Replication deployment."""

__version__ = "0.1.0"
