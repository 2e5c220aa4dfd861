"""The real-Asterisk 22 sandbox (tests, demo): rootfs cache, instances, softphones, scenarios.

Entry points: ``pbx.Sandbox`` (start/stop/restart/kill/cli/status, ``.ami``, ``.ari``),
``ports.SandboxPorts.from_base``, ``softphone.Softphone``, ``scenario.FixtureCall``. The daemon
never imports this package.
"""
