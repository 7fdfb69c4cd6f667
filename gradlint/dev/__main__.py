import argparse
import sys

from gradlint.dev.docs import write_docs


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m gradlint.dev")
    commands = parser.add_subparsers(dest="command", required=True)
    docs = commands.add_parser("docs", help="write rules/*.md from the rules' docstrings")
    docs.add_argument("--check", action="store_true", help="only report stale pages; exit 1 if any")
    args = parser.parse_args()
    stale = write_docs(check=args.check)
    for path in stale:
        print(f"{'stale' if args.check else 'wrote'}: {path}")
    return 1 if args.check and stale else 0


sys.exit(main())
