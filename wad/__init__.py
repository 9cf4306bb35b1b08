"""wad: a self-hosted WhatsApp API daemon."""

__version__ = "0.1.0"
