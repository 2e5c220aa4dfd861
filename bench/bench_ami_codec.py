"""AMI codec under hostile input (issue 10): a message fed byte by byte (10 KB vs 80 KB: linear
is 8x), the longest banner fed byte by byte, and 1 MiB of tiny headers (dropped unparsed)."""

from __future__ import annotations

import time
import tracemalloc

from edgeqa.ami.protocol import MAX_BANNER_BYTES, AmiCodec

BANNER = b"Asterisk Call Manager/11.0.0\r\n"
MiB = 1024 * 1024


def _bytewise_s(size: int) -> float:
    codec = AmiCodec()
    codec.feed(BANNER)
    data = b"Event: Big\r\nData: " + b"x" * size + b"\r\n\r\n"
    t0 = time.perf_counter()
    for i in range(len(data)):
        codec.feed(data[i : i + 1])
    return time.perf_counter() - t0


def _banner_bytewise_s() -> float:
    banner = b"Asterisk Call Manager/" + b"9" * (MAX_BANNER_BYTES - 22) + b"\r\n"
    codec = AmiCodec()
    t0 = time.perf_counter()
    for i in range(len(banner)):
        codec.feed(banner[i : i + 1])
    return time.perf_counter() - t0


def _tiny_headers() -> tuple[float, int]:
    codec = AmiCodec()
    codec.feed(BANNER)
    flood = b"Response: Success\r\nActionID: x\r\n" + b"a:\r\n" * ((MiB - 64) // 4) + b"\r\n"
    tracemalloc.start()
    t0 = time.perf_counter()
    codec.feed(flood)
    elapsed = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return elapsed, peak


def main() -> None:
    small, large = _bytewise_s(10_000), _bytewise_s(80_000)
    print(f"message fed bytewise: 10 KB {small * 1e3:.1f} ms, 80 KB {large * 1e3:.1f} ms, "
          f"ratio {large / small:.1f} (linear 8, quadratic 64)")
    print(f"banner of {MAX_BANNER_BYTES} bytes fed bytewise: {_banner_bytewise_s() * 1e3:.2f} ms")
    elapsed, peak = _tiny_headers()
    print(f"1 MiB of tiny headers: rejected in {elapsed * 1e3:.1f} ms, "
          f"peak {peak / MiB:.1f} MiB traced (parsed it was ~21 MB)")


if __name__ == "__main__":
    main()
