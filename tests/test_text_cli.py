"""``medfusion symptoms``: JSON lines out, texts from arguments or stdin, clear errors."""
import io
import json

import pytest

from medfusion_lib.cli import main


def run(capsys, argv, stdin=None, monkeypatch=None):
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", stdin)
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_arguments_give_one_json_object_each(capsys):
    code, out, _ = run(capsys, ["symptoms", "Denies CP/SOB", "fever: none. T 39.2"])
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and len(lines) == 2
    assert lines[0]["text"] == "Denies CP/SOB"
    assert [(m["text"], m["negated"]) for m in lines[0]["mentions"]] == [("CP", True), ("SOB", True)]
    assert set(lines[1]["mentions"][0]) == {"start", "end", "text", "concept_id", "label", "negated"}
    assert [m["text"] for m in lines[1]["mentions"]] == ["fever", "T 39.2"]


def test_stdin_one_text_per_line(capsys, monkeypatch):
    stdin = io.StringIO("no fever\n\ncoughing up blood\n")
    code, out, _ = run(capsys, ["symptoms"], stdin, monkeypatch)
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [len(x["mentions"]) for x in lines] == [1, 0, 1]
    assert lines[2]["mentions"][0]["label"] == "Hemoptysis"


def test_no_measurements_flag(capsys):
    _, out, _ = run(capsys, ["symptoms", "--no-measurements", "T 39.2"])
    assert json.loads(out)["mentions"] == []


def test_no_input_on_a_terminal_is_a_one_line_error(capsys, monkeypatch):
    class Tty(io.StringIO):
        def isatty(self):
            return True
    code, out, err = run(capsys, ["symptoms"], Tty(""), monkeypatch)
    assert code == 2 and out == "" and "pass TEXT arguments" in err and len(err.strip().splitlines()) == 1


def test_non_utf8_stdin(capsys, monkeypatch):
    stdin = io.TextIOWrapper(io.BytesIO(b"fever \xff\xfe\n"), encoding="utf-8")
    code, _, err = run(capsys, ["symptoms"], stdin, monkeypatch)
    assert code == 2 and "UTF-8" in err


def test_too_long_text(capsys):
    code, out, err = run(capsys, ["symptoms", "x" * 1_000_001])
    assert code == 2 and out == "" and "limit" in err


def test_non_ascii_round_trips(capsys):
    _, out, _ = run(capsys, ["symptoms", "fièvre? j'ai de la féver 🤒"])
    record = json.loads(out)
    assert record["text"] == "fièvre? j'ai de la féver 🤒" and record["mentions"][0]["label"] == "Fever"
