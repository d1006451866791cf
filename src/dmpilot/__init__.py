"""dmpilot: answers Instagram DMs as an AI persona, and never embarrasses the account."""

__version__ = "0.1.0"
