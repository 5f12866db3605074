"""Every command the docs show is run here, so the docs cannot drift from the flags.

Collected from README.md, docs/*.md and benchmarks/README.md: every line of a fenced or an
indented code block that starts (after indentation, a `$ ` prompt or a `&&`) with
`python -m tune_ired` or `tune-ired`; a `\\` continuation is joined to its line and a trailing
`# comment` dropped. One test per line, its id FILE:LINE. What each line gets:

- every line is parsed by its own command's argparse parser (`tune-ired X ...` is command X):
  an unknown flag or choice fails the test, naming the line;
- `python -m tune_ired` and `tune-ired` alone, and any line with `--help` or `--version`, run;
- sweep lines also run as a dry run, in-process (`--dry-run`, with `--storage` in a temporary
  folder unless the line sets it): the file and every trial's config at every budget it
  supports are validated as a real start validates them. Lines with `--address` or `--slurm`
  are parse-only: the cluster they name does not exist here; so are lines that need a CUDA
  GPU on a machine without one;
- train lines: the `--set` keys and the budget are made into a config by
  `tune_ired.ired.config.make_config` (a `--config` file names a run folder that does not exist
  here, so only its flags are checked); `--list-keys` runs; lines that need CUDA are parse-only;
- status, report and landscape lines run on a copy of the tests' tiny resumed sweep
  (conftest's `analysis_sweep`) in place of the folder they name, with `--out` in a temporary
  folder, `--baseline` one of its arms and 4 `--problems` per landscape (`--static` drives the
  installed Chromium). Lines that differ only in these run once.

The Python blocks (those starting with `from tune_ired` or `from ray import tune`) run too, with
every "results/..." folder in them replaced by that tiny sweep and `.show()` left out. And the
README keeps the exact set-up and test lines that `.ci/run` runs.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import re
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from conftest import ANALYSIS_ARMS

from tune_ired import cli
from tune_ired.ired.config import ConfigError, make_config, parse_assignments

ROOT = Path(__file__).resolve().parents[1]
DOCS = [
    ROOT / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
    ROOT / "benchmarks" / "README.md",
]
FENCE = re.compile(r"^\s*(```|~~~)")
COMMAND = re.compile(r"^(python -m tune_ired(\.\w+)?|tune-ired)(\s|$)")
PYTHON_BLOCK = re.compile(r"^(from tune_ired|from ray import tune)")
RESULTS_FOLDER = re.compile(r"\"results/[^\"]*\"")
EXITS = {"-h", "--help", "--version"}  # argparse answers these and exits 0
PARSE_ONLY = {"--address", "--slurm"}  # sweep lines whose cluster does not exist here
READERS = {"status": "sweep", "report": "sweep", "landscape": "folder"}  # command -> its folder
BASELINE = "none"
LANDSCAPE_PROBLEMS = 4  # validation problems a landscape line measures here (the default is 32)
assert BASELINE in ANALYSIS_ARMS


@dataclass(frozen=True)
class Doc:
    where: str  # FILE:LINE
    text: str  # the joined line (or block)


def code_blocks(path: Path) -> list[list[tuple[int, str]]]:
    """The fenced and indented code blocks of a Markdown file: lists of (line number, line)."""
    blocks: list[list[tuple[int, str]]] = []
    fenced, current, blank_before = False, None, True
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if FENCE.match(line):
            fenced = not fenced
            current = [] if fenced else None
            if fenced:
                blocks.append(current)
            continue
        indented = line.startswith(("    ", "\t")) and bool(line.strip())
        if fenced:
            current.append((number, line))
        elif indented and (blank_before or current is not None):
            if current is None:
                current = []
                blocks.append(current)
            current.append((number, line))
        elif line.strip():
            current = None
        blank_before = not line.strip()
    return blocks


def logical_lines(block: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """The block's lines, stripped, with `\\` continuations joined, each with its first line's number."""
    joined: list[tuple[int, str]] = []
    start, parts = 0, []
    for number, line in block:
        text = line.strip()
        start = start if parts else number
        parts.append(text.removesuffix("\\").rstrip())
        if not text.endswith("\\"):
            joined.append((start, " ".join(parts)))
            parts = []
    return joined + ([(start, " ".join(parts))] if parts else [])


def documented_commands() -> list[Doc]:
    """Every command line the docs show (see the module docstring)."""
    found = []
    for path in DOCS:
        for block in code_blocks(path):
            for number, text in logical_lines(block):
                for segment in text.removeprefix("$ ").split("&&"):
                    if COMMAND.match(segment.strip()):
                        where = f"{path.relative_to(ROOT)}:{number}"
                        found.append(Doc(where, segment.strip()))
    return found


def python_blocks() -> list[Doc]:
    """Every code block that is Python using tune_ired, whole."""
    found = []
    for path in DOCS:
        for block in code_blocks(path):
            lines = [line for _, line in block]
            indent = min(len(line) - len(line.lstrip()) for line in lines if line.strip())
            source = "\n".join(line[indent:] for line in lines)
            if PYTHON_BLOCK.match(source):
                found.append(Doc(f"{path.relative_to(ROOT)}:{block[0][0]}", source))
    return found


COMMANDS = documented_commands()


def split(doc: Doc) -> tuple[str | None, list[str]]:
    """(command, its arguments) of a documented line; command None: the package's own listing."""
    tokens = shlex.split(doc.text, comments=True)
    if tokens[0] == "tune-ired":
        rest = tokens[1:]
    else:
        module, rest = tokens[2], tokens[3:]
        if module != "tune_ired":
            return module.removeprefix("tune_ired."), rest
    if rest and rest[0] in cli.COMMANDS:
        return rest[0], rest[1:]
    return None, rest


def parsed(doc: Doc, command: str, argv: list[str], capsys):
    """The command's own parser on argv; a rejected flag or choice fails the test naming the line."""
    module = importlib.import_module(f"tune_ired.{command}")
    try:
        return module.parse_args(argv)
    except SystemExit:
        err = capsys.readouterr().err
        pytest.fail(f"{doc.where}: `{doc.text}` is rejected by {command}'s parser:\n{err}")


def run_main(doc: Doc, command: str | None, argv: list[str], capsys) -> str:
    """Run a command in-process, as its line shows; fails the test unless it exits 0. Returns stdout."""
    main = cli.main if command is None else importlib.import_module(f"tune_ired.{command}").main
    try:
        code = main(argv)
    except SystemExit as done:  # argparse's --help and --version
        code = done.code
    out = capsys.readouterr()
    assert code == 0, f"{doc.where}: `{doc.text}` exited {code}:\n{out.err[-3000:]}"
    return out.out


def needs_cuda(args) -> bool:
    """Whether a parsed train or sweep line asks for a CUDA device (and this machine has none)."""
    asks = any(item.replace(" ", "").startswith("device=cuda") for item in args.set)
    asks = asks or getattr(args, "gpus_per_trial", 0) > 0
    return asks and not torch.cuda.is_available()


@pytest.fixture(scope="module")
def workspace(analysis_sweep, tmp_path_factory) -> Path:
    """A copy of the tiny sweep that reading commands may write into, and the runs already made."""
    root = tmp_path_factory.mktemp("docs")
    shutil.copytree(analysis_sweep.folder, root / "sweep")
    return root


RAN: dict[tuple[str, ...], str] = {}  # reading commands already run: argv -> stdout


def check_sweep(doc: Doc, argv: list[str], tmp_path: Path, capsys) -> None:
    args = parsed(doc, "sweep", argv, capsys)
    if PARSE_ONLY & set(argv) or needs_cuda(args):
        return
    argv = [*argv, *(["--dry-run"] if "--dry-run" not in argv else [])]
    argv += [] if "--storage" in argv else ["--storage", str(tmp_path)]
    assert "dry run" in run_main(doc, "sweep", argv, capsys)


def check_train(doc: Doc, argv: list[str], capsys) -> None:
    args = parsed(doc, "train", argv, capsys)
    if args.list_keys:
        assert "strategy" in run_main(doc, "train", argv, capsys)
        return
    if needs_cuda(args):
        return
    try:
        make_config(parse_assignments(args.set), budget=args.budget, source=doc.where)
    except ConfigError as err:
        pytest.fail(f"{doc.where}: `{doc.text}`: {err}")


def check_reader(doc: Doc, command: str, argv: list[str], workspace: Path, capsys) -> None:
    """status, report, landscape: on the tiny sweep, with --out and --baseline replaced."""
    args = parsed(doc, command, argv, capsys)
    folder = getattr(args, READERS[command])
    argv = [str(workspace / "sweep") if Path(token) == folder else token for token in argv]
    for option, value in (
        ("--out", str(workspace / f"{command}-out")),
        ("--baseline", BASELINE),
        ("--problems", str(LANDSCAPE_PROBLEMS)),
    ):
        if option in argv:
            argv[argv.index(option) + 1] = value
        elif hasattr(args, option[2:]) and option != "--baseline":
            argv += [option, value]
    key = (command, *argv)
    if key not in RAN:
        RAN[key] = run_main(doc, command, argv, capsys)


@pytest.mark.parametrize("doc", COMMANDS, ids=[doc.where for doc in COMMANDS])
def test_documented_command(doc, request, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)  # the lines name files relative to the repository root
    command, argv = split(doc)
    if command is None or EXITS & set(argv):
        run_main(doc, command, argv, capsys)
    elif command == "sweep":
        check_sweep(doc, argv, tmp_path, capsys)
    elif command == "train":
        check_train(doc, argv, capsys)
    elif command in READERS:
        check_reader(doc, command, argv, request.getfixturevalue("workspace"), capsys)
    else:
        pytest.fail(
            f"{doc.where}: `{doc.text}`: {command} is not a command ({', '.join(cli.COMMANDS)})"
        )


PYTHON = python_blocks()


@pytest.mark.parametrize("doc", PYTHON, ids=[doc.where for doc in PYTHON])
def test_documented_python(doc, workspace, monkeypatch):
    monkeypatch.chdir(ROOT)
    source = RESULTS_FOLDER.sub(repr(str(workspace / "sweep")), doc.text).replace(".show()", "")
    with contextlib.redirect_stdout(io.StringIO()):
        exec(compile(source, doc.where, "exec"), {"__name__": "docs"})


def test_the_docs_show_every_command_and_the_ci_lines():
    """The collector finds the lines (a broken one would pass every doc), and the README keeps .ci/run's lines."""
    assert {split(doc)[0] for doc in COMMANDS} >= {None, *cli.COMMANDS}
    assert any(doc.text.startswith("tune-ired") for doc in COMMANDS)
    readme = [text for block in code_blocks(ROOT / "README.md") for _, text in logical_lines(block)]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    setup = next(line for line in ci if line.startswith("pip install"))
    assert setup in readme, f"README.md must show .ci/run's set-up line exactly: {setup}"
    test_line = next(line for line in ci if line.split("#")[0].strip() == "pytest")
    assert any(shlex.split(text, comments=True) == [test_line] for text in readme)
