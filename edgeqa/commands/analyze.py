"""`edgeqa analyze`: a recorded call through the live metrics code; summary as text or JSON.

Each leg's ``speech_level_dbov`` is the talker's level, the RMS over the leg's speech
segments (noise, echo and tones outside them do not pull it); ``active_level_dbov`` is ITU-T
P.56 method B over every sample, as G.191 sv-p56 gives it (a noisy leg reads low).
"""

from __future__ import annotations

import argparse
import glob
import importlib
import json
import math
import os
import sys
from pathlib import Path
from typing import Any

#: Threshold overrides: option, MetricsConfig field, type, unit, smallest and largest value.
_OVERRIDES: tuple[tuple[str, str, type, str, float, float], ...] = (
    ("--dead-air-min-s", "dead_air_min_s", float, "seconds", 0.02, 3600.0),
    ("--talk-over-min-ms", "talk_over_min_ms", int, "milliseconds", 20, 60_000),
    ("--segment-bridge-ms", "segment_bridge_ms", int, "milliseconds", 20, 60_000),
    ("--min-segment-ms", "min_segment_ms", int, "milliseconds", 20, 60_000),
    ("--too-quiet-dbov", "too_quiet_dbov", float, "dBov", -120.0, 0.0),
    ("--too-loud-dbov", "too_loud_dbov", float, "dBov", -120.0, 0.0),
    ("--clip-alert-ratio", "clip_alert_ratio", float, "fraction of samples", 0.0, 1.0),
    ("--vad-mode", "vad_mode", int, "webrtcvad aggressiveness", 0, 3),
    ("--gate-margin-db", "gate_margin_db", float, "dB over the noise floor", 0.0, 120.0),
    ("--gate-abs-dbov", "gate_abs_dbov", float, "dBov", -120.0, 0.0),
)
#: Exit status when the reader of stdout went away (``| head``): 128 + SIGPIPE, as a shell
#: reports a process that SIGPIPE ended, so ``set -o pipefail`` sees it as a C tool's.
EXIT_BROKEN_PIPE = 141
#: Latest end of a --paused span, seconds (a week: longer than any WAV edgeqa reads).
MAX_PAUSED_S = 7 * 86400.0
_PAIR_SUFFIXES = (".customer.wav", ".agent.wav")


def register(subparsers: Any) -> None:
    """Add the `analyze` parser."""
    p = subparsers.add_parser(
        "analyze", help="analyse recorded calls (WAV) with the live metrics code",
        description="Per-leg speech, dead air, talk-over, P.56 level and clipping of "
                    "recorded calls: a stereo WAV (left = customer), two mono WAVs, or "
                    "batches of files, directories and globs. The speech level is the RMS "
                    "over the leg's speech segments (too_quiet/too_loud are judged on it); "
                    "the active level is ITU-T P.56 method B over every sample (sv-p56).")
    p.add_argument("inputs", nargs="*", metavar="CALL.wav|DIR|GLOB")
    p.add_argument("--customer", metavar="CUSTOMER.wav", help="customer leg (mono)")
    p.add_argument("--agent", metavar="AGENT.wav", help="agent leg (mono)")
    p.add_argument("--customer-channel", type=int, default=0, metavar="N")
    p.add_argument("--agent-channel", type=int, default=1, metavar="N")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true",
                     help="print the summary as JSON: one object for a single call; for a "
                          "batch (a DIR, a GLOB or several files) JSON Lines, one object per "
                          "call with its \"file\", as --json-lines")
    out.add_argument("--json-lines", action="store_true",
                     help="batch: one JSON object per call, progress on stderr")
    p.add_argument("--plot", metavar="OUT.png", help="draw the call (single call only)")
    p.add_argument("--paused", action="append", type=_span, default=[], metavar="START-END",
                   help="call time (s) paused for PCI: not analysed, listed as paused "
                        "(repeatable; single call only)")
    from edgeqa.metrics.config import MetricsConfig

    defaults = MetricsConfig()
    for option, field, kind, unit, low, high in _OVERRIDES:
        p.add_argument(option, dest=field, type=_bounded(option, kind, low, high), default=None,
                       metavar=kind.__name__.upper(),
                       help=f"{field}: {unit}, {kind(low)} to {kind(high)} "
                            f"(default {getattr(defaults, field)})")
    p.set_defaults(func=run)


def _span(text: str) -> tuple[float, float]:
    """``START-END`` in seconds, as given to --paused."""
    start, sep, end = text.partition("-")
    try:
        span = float(start), float(end)
    except ValueError:
        span = (0.0, -1.0)
    if not sep or not 0.0 <= span[0] < span[1] <= MAX_PAUSED_S:
        raise argparse.ArgumentTypeError(
            f"{text!r}: need START-END seconds, 0 <= START < END <= {MAX_PAUSED_S:g}")
    return span


def _bounded(option: str, kind: type, low: float, high: float) -> Any:
    """An argparse type: a finite ``kind`` from ``low`` to ``high``, or one clear error."""
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not math.isfinite(value) or not low <= value <= high:
            raise argparse.ArgumentTypeError(
                f"{text!r}: need {'an integer' if kind is int else 'a number'} "
                f"from {kind(low)} to {kind(high)}")
        return value

    parse.__name__ = option  # argparse names the option in its message
    return parse


def _config(args: argparse.Namespace) -> Any:
    from edgeqa.metrics.config import MetricsConfig

    overrides = {f: getattr(args, f) for _, f, *_ in _OVERRIDES if getattr(args, f) is not None}
    return MetricsConfig(**overrides)


def expand_inputs(inputs: list[str]) -> list[tuple[str, ...]]:
    """Return the calls named by files, directories and globs: (stereo,) or (customer, agent)."""
    paths: list[str] = []
    for item in inputs:
        if os.path.isdir(item):
            paths.extend(sorted(glob.glob(os.path.join(item, "*.wav"))))
        elif not os.path.exists(item) and glob.has_magic(item):
            paths.extend(sorted(glob.glob(item)))
        else:
            paths.append(item)
    calls: list[tuple[str, ...]] = []
    seen: set[str] = set()
    for path in paths:
        if path in seen:
            continue
        seen.add(path)
        if path.endswith(_PAIR_SUFFIXES[0]):
            agent = path[: -len(_PAIR_SUFFIXES[0])] + _PAIR_SUFFIXES[1]
            if agent in paths:
                seen.add(agent)
                calls.append((path, agent))
                continue
        elif path.endswith(_PAIR_SUFFIXES[1]):
            customer = path[: -len(_PAIR_SUFFIXES[1])] + _PAIR_SUFFIXES[0]
            if customer in paths:
                continue  # taken with its customer file
        calls.append((path,))
    return calls


def open_call(call: tuple[str, ...], args: argparse.Namespace) -> Any:
    """Open one call's file(s) (a CallFile); raise WavError/OSError on bad input. Two legs
    of different lengths get a warning on stderr: the shorter is analysed as silence to the
    end of the longer (padded)."""
    from edgeqa.analyze.offline import open_pair, open_stereo

    if len(call) != 2:
        return open_stereo(call[0], args.customer_channel, args.agent_channel)
    audio = open_pair(call[0], call[1])
    lengths = {leg: audio.pcm_length(leg) for leg in ("customer", "agent")}
    if lengths["customer"] != lengths["agent"]:
        short, long_ = sorted(lengths, key=lengths.__getitem__)
        pad_s = (lengths[long_] - lengths[short]) / (2 * audio.sample_rate)
        path = call[0] if short == "customer" else call[1]
        print(f"edgeqa analyze: warning: the {short} leg ({path}) is {pad_s:.3f} s shorter "
              f"than the {long_} leg; it is padded with {pad_s:.3f} s of silence at the end",
              file=sys.stderr)
    return audio


def _plot(call: tuple[str, ...], audio: Any, args: argparse.Namespace,
          summary: dict[str, Any], config: Any = None) -> int:
    """Draw the call to ``args.plot`` after its summary was printed; 0, or 2 with a line
    that names the plot's path."""
    from edgeqa.analyze.plot import plot_call

    try:
        plot_call(audio.load(), summary, args.plot,
                  title=" + ".join(Path(p).name for p in call), config=config)
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        print(f"edgeqa analyze: cannot write the plot {args.plot}: {reason}", file=sys.stderr)
        return 2
    return 0


def _text(summary: dict[str, Any]) -> str:
    lines = [f"duration {summary['duration_s']:.1f} s, {summary['sample_rate']} Hz "
             f"{summary['codec']}, talk ratio {summary['talk_ratio']}"]
    for leg, data in summary["legs"].items():
        lines.append(f"  {leg:8} talk {data['talk_time_s']:.1f} s, speech level "
                     f"{data['speech_level_dbov']} dBov (P.56 active "
                     f"{data['active_level_dbov']}), clip {data['clip_ratio']:.4%}, "
                     f"{len(data['speech_segments'])} segments, longest "
                     f"{data['longest_monologue_s']:.1f} s")
    for ev in summary["dead_air"]:
        lines.append(f"  dead air  {ev['start']:.2f}-{ev['end']:.2f} s ({ev['duration_s']:.1f} s)"
                     + (", truncated" if ev.get("truncated") else ""))
    for ev in summary["talk_over"]:
        lines.append(f"  talk-over {ev['start']:.2f}-{ev['end']:.2f} s by {ev['interrupter']}")
    for al in summary["alerts"]:
        lines.append(f"  alert {al['type']}/{al['severity']} at {al['at']:.1f} s"
                     + (f" ({al['leg']})" if al["leg"] else ""))
    for gap in summary.get("gaps", ()):
        lines.append(f"  gap       {gap['start']:.2f}-{gap['end']:.2f} s ({gap['reason']})")
    for span in summary.get("paused", ()):
        lines.append(f"  paused    {span['start']:.2f}-{span['end']:.2f} s")
    lines.append(f"  silence {summary['silence_pct']:.1f} %"
                 + (f" of {summary['covered_s']:.1f} s covered" if summary.get("partial") else ""))
    return "\n".join(lines)


def _has_matplotlib() -> bool:
    """True if matplotlib (the ``plot`` extra) can be imported."""
    try:
        importlib.import_module("matplotlib")
    except ImportError:
        return False
    return True


def _progress(done: int, total: int, name: str) -> None:
    width = 30
    filled = width * done // total if total else width
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {name[-40:]:40}")
    if done == total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def run(args: argparse.Namespace) -> int:
    """Run the command; 0 on success, 2 on bad input (single call) or an unwritable plot,
    1 if a batch had errors, 141 (EXIT_BROKEN_PIPE) when stdout's reader went away."""
    try:
        config = _config(args)
    except (TypeError, ValueError) as exc:
        print(f"edgeqa analyze: {exc}", file=sys.stderr)
        return 2
    if args.customer or args.agent:
        if not (args.customer and args.agent) or args.inputs:
            print("edgeqa analyze: give --customer and --agent together, without other inputs",
                  file=sys.stderr)
            return 2
        calls: list[tuple[str, ...]] = [(args.customer, args.agent)]
    else:
        calls = expand_inputs(args.inputs)
    if not calls:
        print("edgeqa analyze: no input files", file=sys.stderr)
        return 2
    batch = args.json_lines or len(calls) > 1 or any(
        os.path.isdir(i) or (glob.has_magic(i) and not os.path.exists(i)) for i in args.inputs)
    if batch and args.plot:
        print("edgeqa analyze: --plot takes a single call", file=sys.stderr)
        return 2
    if batch and args.paused:
        print("edgeqa analyze: --paused takes a single call", file=sys.stderr)
        return 2
    if args.plot and not _has_matplotlib():
        print("edgeqa analyze: --plot needs matplotlib: pip install 'edgeqa[plot]'",
              file=sys.stderr)
        return 2
    try:
        status = _analyze(calls, batch, args, config)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (`| head`): no traceback, and nothing more to write to it.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return EXIT_BROKEN_PIPE
    return status


def _analyze(calls: list[tuple[str, ...]], batch: bool, args: argparse.Namespace,
             config: Any) -> int:
    """Analyse and print each call; the exit status as ``run`` documents it."""
    from edgeqa.analyze.offline import run_call
    from edgeqa.analyze.wavfile import WavError

    failed = 0
    for n, call in enumerate(calls, 1):
        name = " + ".join(call)
        try:
            audio = open_call(call, args)
            summary = run_call(audio, config, paused=args.paused)
        except (WavError, OSError, ValueError) as exc:
            failed += 1
            if batch:
                sys.stderr.write("\n")
            print(f"edgeqa analyze: {name}: {exc}", file=sys.stderr)
            if not batch:
                return 2
        else:
            if batch and (args.json_lines or args.json):
                print(json.dumps({"file": name, **summary}), flush=True)
            elif batch:
                print(f"{name}\n{_text(summary)}", flush=True)
            elif args.json:
                print(json.dumps(summary, indent=2), flush=True)
            else:
                print(_text(summary), flush=True)
            if args.plot:
                return _plot(call, audio, args, summary, config)
        if batch:
            _progress(n, len(calls), name)
    return 1 if failed else 0
