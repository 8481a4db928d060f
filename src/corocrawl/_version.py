"""corocrawl's version, apart from the package so that `corocrawl --version` loads nothing else."""

__version__ = "0.1.0"
