"""Screenshots of the TensorBoard dashboard of a run (or a sweep), as a person opening it sees them.

    python scripts/dashboard_screenshots.py RUN_OR_SWEEP_DIR [--out docs/] [--views timeseries,custom_scalars,hparams]

Starts a real TensorBoard on the folder (a free port), waits until it serves the run's scalars,
takes one headless-Chromium screenshot per view (``dashboard_<view>.png`` in ``--out``) and stops
the server. Needs ``chromium`` (Debian/Ubuntu: ``apt-get install chromium``). The README's picture
is ``docs/dashboard.png``, the W1 view of the default demo:

    wgan-cli train hydra.run.dir=/tmp/demo
    python scripts/dashboard_screenshots.py /tmp/demo --views custom_scalars --out /tmp/shots
    cp /tmp/shots/dashboard_custom_scalars.png docs/dashboard.png
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_scalars(base: str, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/data/plugin/scalars/tags", timeout=5) as response:
                if json.loads(response.read()):
                    return
        except OSError:
            pass
        time.sleep(1)
    raise SystemExit(f"TensorBoard at {base} served no scalars within {timeout:.0f} s")


def screenshot(url: str, out: Path, size: str) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        raise SystemExit("no chromium found: apt-get install chromium")
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        f"--user-data-dir={profile}", f"--window-size={size}", "--virtual-time-budget=15000",
                        f"--screenshot={out}", url], check=True, capture_output=True, timeout=120)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("logdir", type=Path)
    p.add_argument("--out", type=Path, default=Path("docs"))
    p.add_argument("--views", default="timeseries,custom_scalars,hparams")
    p.add_argument("--size", default="1400,900", help="browser window, width,height in pixels")
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "tensorboard.main", "--logdir", str(args.logdir), "--port",
                               str(port), "--bind_all", "--reload_interval", "1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://localhost:{port}"
        wait_for_scalars(base)
        for view in args.views.split(","):
            out = args.out / f"dashboard_{view.split('&')[0]}.png"  # a view may carry hash settings
            screenshot(f"{base}/#{view}&_smoothingWeight=0", out, args.size)  # true values, unsmoothed
            print(f"wrote {out}")
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
