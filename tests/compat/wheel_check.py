"""Install the provider from its wheel alone and use it the way a new user would.

``python -m tests.compat.wheel_check`` (``make wheel-check``): ``python -m build`` (sdist and wheel),
``twine check``, then a clean virtualenv with Airflow (from constraints/airflow-3.3.txt) and only
the wheel with its ``sandbox`` extra, outside the checkout. There: ``votel-sandbox --help``; a pytest
file using the plugin's fixtures against the sandbox; ``airflow providers list`` shows the provider;
``airflow connections test`` passes against a running ``votel-sandbox``; ``votel-check-api`` finds
it equal to the catalogue, and names exactly the renamed and removed paths of a sandbox started
with ``--rename-path``/``--remove-path``, in document and probing mode; the example DAGs shipped
in the wheel parse. Writes compat-results/wheel-check.json for the supported-versions page.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "compat-results"
CONSTRAINTS = REPO / "constraints" / "airflow-3.3.txt"

PLUGIN_TEST = """
from votel_airflow.hooks.votel import VotelHook


def test_the_plugin_fixtures_reach_the_sandbox(votel_sandbox, votel_api_key, votel_connection):
    ok, message = VotelHook(votel_connection).test_connection()
    assert ok, message
    assert votel_sandbox.base_url.startswith("http://127.0.0.1:")
"""

PARSE_EXAMPLES = """
import sys
from importlib import resources
from votel_airflow.compat import DagBag
folder = resources.files("votel_airflow") / "example_dags"
assert folder.is_dir() and "site-packages" in str(folder), folder
bag = DagBag(dag_folder=str(folder))
assert not bag.import_errors, bag.import_errors
expected = set(sys.argv[1].split(","))
assert set(bag.dag_ids) == expected, (sorted(bag.dag_ids), sorted(expected))
print("parsed", sorted(bag.dag_ids))
"""


def example_dag_ids() -> list[str]:
    """The checkout's example DAGs (one per file, named after it): what the wheel must ship."""
    return sorted(p.stem for p in (REPO / "dags_examples").glob("votel_*.py"))


def run(cmd: list[str], **kwargs: Any) -> str:
    """Run ``cmd``; fail with its output when it fails; return its output."""
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=600, **kwargs)
    output = done.stdout + done.stderr
    if done.returncode != 0:
        raise SystemExit(f"FAILED ({done.returncode}): {' '.join(cmd)}\n{output[-4000:]}")
    return output


def start_sandbox(
    bin_dir: Path, env: dict[str, str], *args: str
) -> tuple[subprocess.Popen[str], dict[str, str]]:
    proc = subprocess.Popen(
        [str(bin_dir / "votel-sandbox"), *args],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    assert proc.stdout is not None
    announced: dict[str, str] = {}
    for line in proc.stdout:
        name, _, value = line.strip().partition("=")
        announced.setdefault(name, value)
        if name == "VOTEL_SANDBOX_READY":
            return proc, announced
    raise SystemExit(f"votel-sandbox exited ({proc.wait()}) before it was ready")


def check_api(bin_dir: Path, work: Path, env: dict[str, str], announced: dict[str, str], *args: str) -> Any:
    """Run ``votel-check-api --json`` against a running sandbox; its report, exit status added."""
    conn = {
        "conn_type": "votel",
        "host": announced["VOTEL_SANDBOX_URL"],
        "password": announced["VOTEL_SANDBOX_API_KEY"],
    }
    done = subprocess.run(
        [str(bin_dir / "votel-check-api"), "--json", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        cwd=work,
        env={**env, "AIRFLOW_CONN_VOTEL_DEFAULT": json.dumps(conn)},
    )
    assert announced["VOTEL_SANDBOX_API_KEY"] not in done.stdout + done.stderr, "the API key was printed"
    if done.returncode not in (0, 1):
        raise SystemExit(
            f"FAILED ({done.returncode}): votel-check-api {' '.join(args)}\n{done.stderr[-4000:]}"
        )
    report = json.loads(done.stdout)
    assert report["exit_status"] == done.returncode, report
    return report


def failed_paths(report: Any) -> set[str]:
    return {e["path"] for e in report["endpoints"] if e["status"] not in ("ok", "not checked")}


def main() -> int:
    checks: list[str] = []
    dist = REPO / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    run([sys.executable, "-m", "build", "--outdir", str(dist), str(REPO)])
    wheels = sorted(dist.glob("*.whl"))
    sdists = sorted(dist.glob("*.tar.gz"))
    assert len(wheels) == 1, list(dist.iterdir())
    assert len(sdists) == 1, list(dist.iterdir())
    checks.append("sdist and wheel build")
    twine = run([sys.executable, "-m", "twine", "check", "--strict", *map(str, wheels + sdists)])
    assert twine.count("PASSED") == 2, twine
    checks.append("`twine check --strict` clean")
    shipped = zipfile.ZipFile(wheels[0]).namelist()
    tooling = [name for name in shipped if name.startswith(("dev/", "votel_airflow/demo"))]
    assert not tooling, f"developer tooling in the wheel: {tooling}"
    checks.append("no developer tooling (the demo) in the wheel")

    with tempfile.TemporaryDirectory(prefix="votel-wheel-") as tmp:
        work = Path(tmp)
        venv = work / "venv"
        run([sys.executable, "-m", "venv", str(venv)])
        bin_dir = venv / "bin"
        run(
            [
                str(bin_dir / "python"),
                "-m",
                "pip",
                "install",
                "--quiet",
                "-c",
                str(CONSTRAINTS),
                # The sandbox's server and the plugin's fixtures need the extra.
                f"{wheels[0]}[sandbox]",
                "pytest",
            ]
        )
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "VIRTUAL_ENV", "PYTHON"))},
            "AIRFLOW_HOME": str(work / "airflow"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        # Nothing of the checkout may be importable: the wheel alone.
        where = run(
            [str(bin_dir / "python"), "-c", "import votel_airflow; print(votel_airflow.__file__)"],
            cwd=work,
            env=env,
        )
        assert "site-packages" in where, where
        assert str(REPO) not in where, where

        helped = run([str(bin_dir / "votel-sandbox"), "--help"], cwd=work, env=env)
        assert "--port" in helped, helped
        checks.append("`votel-sandbox --help`")

        (work / "test_plugin.py").write_text(PLUGIN_TEST)
        out = run(
            [str(bin_dir / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_plugin.py"],
            cwd=work,
            env=env,
        )
        assert "1 passed" in out, out
        checks.append("pytest plugin fixtures")

        providers = run([str(bin_dir / "airflow"), "providers", "list"], cwd=work, env=env)
        assert "airflow-provider-votel" in providers, providers
        checks.append("`airflow providers list` shows it")

        run([str(bin_dir / "airflow"), "db", "migrate"], cwd=work, env=env)
        sandbox, announced = start_sandbox(bin_dir, env)
        try:
            conn = {
                "conn_type": "votel",
                "host": announced["VOTEL_SANDBOX_URL"],
                "password": announced["VOTEL_SANDBOX_API_KEY"],
            }
            tested = run(
                [str(bin_dir / "airflow"), "connections", "test", "votel_default"],
                cwd=work,
                env={
                    **env,
                    "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
                    "AIRFLOW_CONN_VOTEL_DEFAULT": json.dumps(conn),
                },
            )
            assert "Connection success!" in tested, tested
            assert announced["VOTEL_SANDBOX_API_KEY"] not in tested, "the API key was printed"
            checks.append("`airflow connections test` against the sandbox")
            for mode in ((), ("--probe",)):
                report = check_api(bin_dir, work, env, announced, *mode)
                assert report["exit_status"] == 0, report["summary"]
                assert failed_paths(report) == set(), report["summary"]
        finally:
            sandbox.terminate()
            sandbox.wait(30)
        changed = ["--rename-path", "/tasks=/todos", "--remove-path", "/channels"]
        sandbox, announced = start_sandbox(bin_dir, env, *changed)
        try:
            for mode in ((), ("--probe",)):
                report = check_api(bin_dir, work, env, announced, *mode)
                assert report["exit_status"] == 1, report["summary"]
                assert failed_paths(report) == {"/tasks", "/channels"}, failed_paths(report)
            checks.append(
                "`votel-check-api` against the sandbox, as shipped and with paths renamed or removed, "
                "in document and probing mode"
            )
        finally:
            sandbox.terminate()
            sandbox.wait(30)

        parsed = run(
            [str(bin_dir / "python"), "-c", PARSE_EXAMPLES, ",".join(example_dag_ids())], cwd=work, env=env
        )
        assert "parsed" in parsed, parsed
        checks.append("the example DAGs shipped in the wheel parse")
        version = run(
            [
                str(bin_dir / "python"),
                "-c",
                "from importlib.metadata import version as v; print(v('apache-airflow-core'))",
            ],
            cwd=work,
            env=env,
        )

    RESULTS.mkdir(exist_ok=True)
    report = {
        "airflow": version.strip().splitlines()[-1],
        "python": platform.python_version(),
        "checks": checks,
    }
    (RESULTS / "wheel-check.json").write_text(json.dumps(report, indent=2) + "\n")
    print("wheel check passed: " + "; ".join(checks))
    return 0


if __name__ == "__main__":
    sys.exit(main())
