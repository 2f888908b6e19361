"""orchestra-mailman: Mailman 3 core lists for orchestra (in progress: the test fixture)."""

__version__ = "0.1.0.dev0"
