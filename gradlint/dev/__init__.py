"""Developer commands: `python -m gradlint.dev docs [--check]`."""
