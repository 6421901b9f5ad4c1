"""``python -m service.cli``: the ``civop`` command."""

from service.cli import app

app()
