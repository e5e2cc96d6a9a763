"""``medfusion symptoms [TEXT ...]``: symptom mentions as JSON lines (one object per input text).

Texts come from the arguments, or — when there are none — from standard input, one text per line.
Each output line is ``{"text": ..., "mentions": [{"start", "end", "text", "concept_id", "label",
"negated"}, ...]}``.
"""
from __future__ import annotations

import json
import sys

from medfusion_lib.errors import UserError

MAX_CHARS = 1_000_000  # a narrative, not a book: longer input is almost certainly the wrong file


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "symptoms", help="find symptom mentions (HPO ids, negation) in free text; prints JSON lines",
        description="Find symptom mentions in each TEXT (or each line of standard input) and print one "
                    "JSON object per text. Educational tool, not for clinical use.")
    parser.add_argument("texts", nargs="*", metavar="TEXT", help="narratives; omit to read lines from stdin")
    parser.add_argument("--no-measurements", action="store_true",
                        help="ignore symptoms stated as numbers (temp 38.9, lost 6 kg)")
    parser.set_defaults(func=_run)


def _inputs(args) -> list[str]:
    if args.texts:
        return list(args.texts)
    if sys.stdin is None or sys.stdin.isatty():
        raise UserError("no text given; pass TEXT arguments or pipe one narrative per line on stdin "
                        "(e.g. echo 'denies fever' | medfusion symptoms)")
    try:
        return [line.rstrip("\r\n") for line in sys.stdin]
    except UnicodeDecodeError as exc:
        raise UserError(f"standard input is not valid UTF-8 text ({exc.reason} at byte {exc.start}); "
                        "convert it to UTF-8 first") from None


def _run(args) -> int:
    from medfusion_lib.text.extract import extract_mentions

    texts = _inputs(args)
    for n, text in enumerate(texts, 1):
        if len(text) > MAX_CHARS:
            raise UserError(f"text {n} has {len(text):,} characters (limit {MAX_CHARS:,}); split it into "
                            "narratives, one per line")
    for text in texts:
        mentions = extract_mentions(text, measurements=not args.no_measurements)
        print(json.dumps({"text": text, "mentions": [m.to_dict() for m in mentions]}, ensure_ascii=False),
              flush=True)
    return 0
