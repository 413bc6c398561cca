"""``python -m fingerspell`` is the same as the ``fingerspell`` command."""

from .cli import entry_point

entry_point()
