"""`edgeqa sandbox ...` parsing and its one-line errors (the sandbox itself is faked)."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeqa.cli import build_parser, main
from edgeqa.sandbox import rootfs
from edgeqa.sandbox.errors import SandboxError


def test_subcommands_parse() -> None:
    parser = build_parser()
    args = parser.parse_args(["sandbox", "build", "--rebuild"])
    assert args.rebuild and callable(args.func)
    args = parser.parse_args(["sandbox", "cli", "--base", "16000", "core show channels"])
    assert (args.base, args.cli_command, args.instance) == (16000, "core show channels", None)
    for action in ("start", "stop", "status"):
        assert callable(parser.parse_args(["sandbox", action]).func)
    with pytest.raises(SystemExit):
        parser.parse_args(["sandbox", "cli"])  # COMMAND is required


def test_build_error_is_one_line_and_nonzero(monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    def fail(**kwargs: object) -> rootfs.BuildResult:
        raise SandboxError("the sandbox needs root (mmdebstrap --mode=root, chroot): run as root")

    monkeypatch.setattr(rootfs, "ensure_rootfs", fail)
    assert main(["sandbox", "build"]) == 1
    err = capsys.readouterr().err
    assert err == ("edgeqa sandbox: the sandbox needs root (mmdebstrap --mode=root, chroot): "
                   "run as root\n")


def test_cached_build_is_a_noop(monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
    def cached(**kwargs: object) -> rootfs.BuildResult:
        return rootfs.BuildResult(Path("/c/rootfs"), False, 0.0, {"asterisk": "1:22.10.1-1"})

    monkeypatch.setattr(rootfs, "ensure_rootfs", cached)
    assert main(["sandbox", "build"]) == 0
    assert capsys.readouterr().out == "cached /c/rootfs (asterisk 1:22.10.1-1)\n"
