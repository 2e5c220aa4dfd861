"""`edgeqa sandbox build|start|stop|status|cli`: the real Asterisk 22 sandbox for tests and demo."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def register(subparsers: Any) -> None:
    """Add the ``sandbox`` command and its subcommands."""
    parser = subparsers.add_parser(
        "sandbox", help="build/run the Asterisk 22 sandbox (root, mmdebstrap)",
        description="A Debian sid chroot with Asterisk 22, cached in $EDGEQA_SANDBOX_DIR "
                    "(default /var/cache/edgeqa/sandbox); instances listen on 127.0.0.1 only.",
    )
    sub = parser.add_subparsers(dest="sandbox_command", metavar="ACTION", required=True)
    build = sub.add_parser("build", help="build the rootfs (a no-op when cached)")
    build.add_argument("--rebuild", action="store_true", help="build even if the cache is valid")
    build.set_defaults(func=_build)
    for name, func, text in (("start", _start, "start an instance in the background"),
                             ("stop", _stop, "stop a running instance"),
                             ("status", _status, "show whether an instance runs")):
        p = sub.add_parser(name, help=text)
        _instance_options(p)
        p.set_defaults(func=func)
    start = sub.choices["start"]
    start.add_argument("--build", action="store_true", help="build the rootfs first if needed")
    cli = sub.add_parser("cli", help="run an Asterisk CLI command (asterisk -rx)")
    _instance_options(cli)
    cli.add_argument("cli_command", metavar="COMMAND", help='e.g. "core show channels"')
    cli.set_defaults(func=_cli)


def _instance_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base", type=int, default=None,
                        help="port base (default $EDGEQA_SANDBOX_PORT_BASE or 15000)")
    parser.add_argument("--instance", default=None, help="instance name (default b<base>)")


def _fail(message: str) -> int:
    print(f"edgeqa sandbox: {message}", file=sys.stderr)
    return 1


def _build(args: argparse.Namespace) -> int:
    from edgeqa.sandbox.errors import SandboxError
    from edgeqa.sandbox.rootfs import ensure_rootfs

    try:
        result = ensure_rootfs(rebuild=args.rebuild)
    except SandboxError as exc:
        return _fail(str(exc))
    versions = ", ".join(f"{k} {v}" for k, v in sorted(result.versions.items()))
    if result.built:
        print(f"built {result.rootfs} in {result.duration_s:.1f} s ({versions})")
    else:
        print(f"cached {result.rootfs} ({versions})")
    return 0


def _sandbox(args: argparse.Namespace) -> Any:
    from edgeqa.sandbox.pbx import Sandbox

    return Sandbox(args.base, args.instance)


def _start(args: argparse.Namespace) -> int:
    from edgeqa.sandbox.errors import SandboxError

    try:
        box = _sandbox(args)
        if args.build:
            box.build()
        boot_s = box.start()
    except SandboxError as exc:
        return _fail(str(exc))
    etc = box.paths.host / "etc"
    print(f"sandbox {box.name} running (pid {box.pid()}), FullyBooted in {boot_s:.2f} s")
    print(f"  AMI  127.0.0.1:{box.ports.ami} user edgeqa, secret in "
          f"{etc}/manager_edgeqa_secret.conf")
    print(f"  ARI  {box.ari[0]} user edgeqa, password in {etc}/ari_edgeqa_secret.conf, "
          "app edgeqa")
    print(f"  SIP  udp 127.0.0.1:{box.ports.sip}; pid file {box.paths.pidfile}")
    return 0


def _stop(args: argparse.Namespace) -> int:
    from edgeqa.sandbox.errors import SandboxError

    try:
        box = _sandbox(args)
        pid = box.pid()
        box.stop()
    except SandboxError as exc:
        return _fail(str(exc))
    print(f"sandbox {box.name} stopped (pid {pid})" if pid else f"sandbox {box.name} not running")
    return 0


def _status(args: argparse.Namespace) -> int:
    from edgeqa.sandbox.errors import SandboxError

    try:
        status = _sandbox(args).status()
    except SandboxError as exc:
        return _fail(str(exc))
    state = f"running (pid {status.pid})" if status.running else "stopped"
    print(f"sandbox {status.instance}: {state}; AMI 127.0.0.1:{status.ami_port}, "
          f"ARI 127.0.0.1:{status.http_port} {'ok' if status.ari_ok else 'not answering'}")
    return 0 if status.running else 3


def _cli(args: argparse.Namespace) -> int:
    from edgeqa.sandbox.errors import SandboxError

    try:
        box = _sandbox(args)
        if box.pid() is None:
            return _fail(f"sandbox {box.name} is not running (edgeqa sandbox start)")
        sys.stdout.write(box.cli(args.cli_command))
    except SandboxError as exc:
        return _fail(str(exc))
    return 0
