"""The machine description and the results table written into ``benchmarks/README.md``."""

from __future__ import annotations

import os
import platform
import re
from pathlib import Path
from typing import Any

from benchmarks.common import REPO, _fmt

README = REPO / "benchmarks" / "README.md"
BEGIN = "<!-- results:begin -->"
END = "<!-- results:end -->"


def machine() -> dict[str, Any]:
    """nproc, CPU model, memory and Python: the context every figure needs."""
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def table(runs: dict[str, Any]) -> str:
    """The markdown results section: one table per benchmark, with its command and machine."""
    parts: list[str] = []
    for name, run in runs.items():
        m = run["machine"]
        parts.append(
            f"### {name}\n\n`{run['command']}` ({run['scale']} scale, {run['runs']} run(s), "
            f"{run['started']}; {m['nproc']} x {m['cpu']}, Python {m['python']})\n"
        )
        parts.append(
            "| figure | value | unit | target | result | runs |\n| --- | --- | --- | --- | --- | --- |"
        )
        for f in run["figures"]:
            verdict = "" if f["ok"] is None else ("pass" if f["ok"] else "**FAIL**")
            samples = ", ".join(_fmt(s) for s in f["samples"]) if len(f["samples"]) > 1 else ""
            note = f" ({f['note']})" if f["note"] else ""
            cells = [f["name"] + note, _fmt(f["value"]), f["unit"], f["target"], verdict, samples]
            parts.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
        parts.append("")
    return "\n".join(parts)


def write_readme(runs: dict[str, Any], readme: Path = README) -> None:
    """Replace the text between the result markers of the README (the rest is hand-written).

    :param runs: ``{benchmark: run}`` as stored in ``results/latest.json``.
    :param readme: the file to rewrite.
    """
    text = readme.read_text()
    section = f"{BEGIN}\n{table(runs)}\n{END}"
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    if not pattern.search(text):
        raise RuntimeError(f"{readme} lacks the {BEGIN} ... {END} markers")
    readme.write_text(pattern.sub(lambda _: section, text))
