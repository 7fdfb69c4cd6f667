"""The built-in rules, one per module; `gradlint.registry` imports them all."""
