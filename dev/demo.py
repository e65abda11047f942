"""The one-command demo: the example DAGs run by Airflow against a local Votel sandbox.

``python -m dev.demo`` (``make demo``, from a checkout) starts a seeded sandbox on a free port,
prepares a local Airflow home (SQLite) under ``.airflow-demo``, runs ``votel_nightly_crm_sync`` and
``votel_outreach_campaign`` with ``airflow dags test`` (deferrable waits included), and prints what
happened: the runs' states and task results read through Airflow's REST API (an ``airflow
api-server`` on the same home), cross-checked against what the sandbox recorded. ``--ui`` (``make
airflow-ui``) starts the sandbox and ``airflow standalone`` instead, to watch the DAGs in the Airflow
UI. No account and no argument are needed; the sandbox's API key is masked.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import IO, Any

import requests

from votel_airflow import endpoints
from votel_airflow.defaults import POLICY_CLOCK_ENV, SKIP_REASONS
from votel_airflow.sandbox.server import SandboxServer

DAG_IDS = ("votel_nightly_crm_sync", "votel_outreach_campaign")
#: The DAG runs' own limit; a healthy demo takes well under a minute.
DAG_TEST_TIMEOUT = 600.0
LOG_TAIL_LINES = 40
UI_LOGIN_TIMEOUT = 120.0
API_START_TIMEOUT = 180.0
STOP_TIMEOUT = 15.0
REPO = Path(__file__).resolve().parents[1]


#: Contacts the demo adds to the campaign's tag, each of whom the outreach policy must keep out of
#: the texts, and the reason it must give: ``(first name, phone, consent fields, reason)``. At the
#: demo's policy clock (18:00 UTC) it is 03:00 in Tokyo.
KEPT_OUT = (
    ("Dana", "+14155550901", {"dnd": True}, "opted_out"),
    ("Sami", "+14155550902", {"dnd_channels": ["sms"]}, "opted_out"),
    ("Kenji", "+819012345678", {"timezone": "Asia/Tokyo"}, "quiet_hours"),
)
CAMPAIGN_TAG = "vip"


class DemoError(RuntimeError):
    """A step of the demo failed; the message says which, and the log holds the details."""


def example_dags_folder() -> Path | None:
    """The example DAGs: ``$VOTEL_EXAMPLE_DAGS``, else the checkout's ``dags_examples``."""
    candidates = [os.environ.get("VOTEL_EXAMPLE_DAGS") or "", str(REPO / "dags_examples")]
    for candidate in candidates:
        if candidate and Path(candidate, "votel_nightly_crm_sync.py").is_file():
            return Path(candidate).resolve()
    return None


def mask(text: str, secrets: Sequence[str]) -> str:
    """``text`` with every secret replaced by a masked form that keeps only its prefix.

    :param text: what is about to be shown or written.
    :param secrets: the values to hide.
    """
    for secret in secrets:
        if secret:
            text = text.replace(secret, secret[:3] + "***")
    return text


def free_port() -> int:
    """A TCP port free on the loopback interface right now."""
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class DemoHome:
    """The demo's Airflow home and the files the DAGs write.

    :param root: the folder (created if missing), e.g. ``<repo>/.airflow-demo``.
    """

    root: Path

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def warehouse(self) -> Path:
        return self.data_dir / "warehouse.db"

    @property
    def log_file(self) -> Path:
        return self.root / "demo.log"

    @property
    def airflow_db(self) -> Path:
        return self.root / "airflow.db"

    def environment(self, sandbox: SandboxServer, api_key: str, dags_folder: Path) -> dict[str, str]:
        """The environment of every ``airflow`` command: this home, the DAGs, both connections."""
        env = dict(os.environ)
        env.update(
            {
                "AIRFLOW_HOME": str(self.root),
                "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.airflow_db}",
                "AIRFLOW_CONN_VOTEL_DEFAULT": json.dumps(
                    {"conn_type": "votel", "host": sandbox.base_url, "password": api_key}
                ),
                "AIRFLOW_CONN_VOTEL_WAREHOUSE": json.dumps(
                    {"conn_type": "sqlite", "host": str(self.warehouse)}
                ),
                "VOTEL_DATA_DIR": str(self.data_dir),
                # The sandbox answers in fractions of a second: poll often, retry soon.
                "VOTEL_EXAMPLES_POKE_INTERVAL": "0.5",
                "VOTEL_EXAMPLES_RETRY_DELAY": "2",
                "PYTHONUNBUFFERED": "1",
            }
        )
        return env


class Console:
    """Progress lines on stdout; every subprocess line into the log file; secrets masked in both.

    :param log_file: where the full output of the ``airflow`` commands goes.
    :param secrets: values never shown or written (the API key).
    :param out: the stream progress lines go to.
    """

    def __init__(self, log_file: Path, secrets: Sequence[str], out: IO[str] = sys.stdout) -> None:
        self.log_file = log_file
        self.secrets = list(secrets)
        self.out = out
        log_file.parent.mkdir(parents=True, exist_ok=True)
        log_file.write_text("")

    def say(self, text: str) -> None:
        print(mask(text, self.secrets), file=self.out, flush=True)

    def run(self, step: str, cmd: Sequence[str], env: Mapping[str, str], timeout: float) -> None:
        """Run ``cmd`` with its output streamed (masked) into the log; raise DemoError on failure."""
        started = time.monotonic()
        self.say(f"  ... {step}")
        with self.log_file.open("a") as log:
            log.write(f"\n===== {step}: {' '.join(cmd)}\n")
            log.flush()
            proc = subprocess.Popen(
                list(cmd),
                env=dict(env),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
                start_new_session=True,
            )
            assert proc.stdout is not None
            deadline = started + timeout
            try:
                for line in proc.stdout:
                    log.write(mask(line, self.secrets))
                    if time.monotonic() > deadline:
                        raise DemoError(f"{step} took longer than {timeout:.0f}s")
                code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
            except BaseException:
                stop_process_group(proc)
                raise
        if code != 0:
            raise DemoError(f"{step} failed (exit code {code})")
        self.say(f"  ok  {step} ({time.monotonic() - started:.1f}s)")

    def tail(self, lines: int = LOG_TAIL_LINES) -> str:
        text = self.log_file.read_text(errors="replace").splitlines()
        return mask("\n".join(text[-lines:]), self.secrets)


def stop_process_group(proc: subprocess.Popen[Any], timeout: float = STOP_TIMEOUT) -> None:
    """Stop a child started in its own session, and everything it started: SIGTERM, then SIGKILL."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        proc.wait(timeout)


# -- reading what the runs did --------------------------------------------------------------------


class AirflowApi:
    """Airflow's REST API (``/api/v2``) on the demo's home: an ``airflow api-server`` of its own.

    The runs' states and their tasks' results are read here, through the interface Airflow
    documents, never from its metadata tables. Every user is an admin (``simple_auth_manager``),
    on loopback only, for the life of this object.

    :param env: the demo's Airflow environment.
    :param log: where the server's output goes.
    """

    def __init__(self, env: Mapping[str, str], log: IO[str]) -> None:
        port = free_port()
        self.base = f"http://127.0.0.1:{port}/api/v2"
        server_env = dict(env)
        server_env.update(
            {
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__PORT": str(port),
                "AIRFLOW__API__WORKERS": "1",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            }
        )
        self.session = requests.Session()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "airflow", "api-server"],
            env=server_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + API_START_TIMEOUT
        while not self._serving():
            if self.proc.poll() is not None:
                raise DemoError(f"airflow api-server exited ({self.proc.returncode})")
            if time.monotonic() > deadline:
                self.stop()
                raise DemoError(f"airflow api-server did not answer within {API_START_TIMEOUT:.0f}s")
            time.sleep(0.5)

    def _serving(self) -> bool:
        try:
            return self.session.get(f"{self.base}/version", timeout=2).ok
        except requests.RequestException:
            return False

    def get(self, path: str, **params: Any) -> Any:
        response = self.session.get(f"{self.base}{path}", params=params, timeout=60)
        if not response.ok:
            raise DemoError(f"GET {path}: {response.status_code} {response.text[:300]}")
        return response.json()

    def latest_run(self, dag_id: str) -> tuple[str, str]:
        """``(run_id, state)`` of the DAG's most recent run."""
        runs = self.get(f"/dags/{dag_id}/dagRuns", order_by="-run_after", limit=1)["dag_runs"]
        if not runs:
            raise DemoError(f"no run of {dag_id}")
        return str(runs[0]["dag_run_id"]), str(runs[0]["state"])

    def results(self, dag_id: str, run_id: str) -> dict[str, list[Any]]:
        """``{task_id: [return value per map index]}`` of one DAG run."""
        run = f"/dags/{dag_id}/dagRuns/{run_id}"
        tis = self.get(f"{run}/taskInstances", limit=1000)["task_instances"]
        values: dict[str, list[Any]] = {}
        for ti in sorted(tis, key=lambda t: (t["task_id"], t["map_index"])):
            if ti["state"] != "success":
                continue
            path = f"{run}/taskInstances/{ti['task_id']}/xcomEntries/return_value"
            response = self.session.get(
                f"{self.base}{path}", params={"map_index": ti["map_index"], "deserialize": "true"}, timeout=60
            )
            if response.status_code == 404:  # the task returned nothing
                continue
            if not response.ok:
                raise DemoError(f"GET {path}: {response.status_code} {response.text[:300]}")
            values.setdefault(str(ti["task_id"]), []).append(response.json()["value"])
        return values

    def stop(self) -> None:
        self.session.close()
        stop_process_group(self.proc, 30)


def sandbox_log_count(path: str, since: datetime, until: datetime) -> int:
    """Rows the sandbox's log endpoint holds for the window, read through the provider's hook.

    Needs ``AIRFLOW_CONN_VOTEL_DEFAULT`` in this process's environment (set by :func:`run_demo`).
    """
    from votel_airflow.hooks.votel import VotelHook

    params = {"since": since.isoformat(), "until": until.isoformat()}
    return sum(1 for _ in VotelHook().paginate(path, params=params))


def table_rows(warehouse: Path, table: str) -> int:
    with closing(sqlite3.connect(warehouse)) as db:
        return int(db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


@dataclass
class Summary:
    """What the demo reports: figures from the run, the sandbox's own count of the same things."""

    lines: list[str] = field(default_factory=list)
    checks: dict[str, dict[str, int]] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)

    def check(self, name: str, from_run: int, from_sandbox: int) -> None:
        self.checks[name] = {"run": from_run, "sandbox": from_sandbox}

    @property
    def mismatches(self) -> list[str]:
        return [name for name, pair in self.checks.items() if pair["run"] != pair["sandbox"]]

    def as_json(self) -> dict[str, Any]:
        return {"checks": self.checks, "files": self.files, "ok": not self.mismatches}


def add_kept_out_contacts() -> dict[str, str]:
    """Add :data:`KEPT_OUT` to the campaign's tag; return ``{contact id: reason expected}``."""
    from votel_airflow.hooks.votel import VotelHook

    hook = VotelHook()
    expected = {}
    try:
        for name, phone, consent, reason in KEPT_OUT:
            made = hook.request(
                "POST", endpoints.CONTACTS, json={"first_name": name, "phone": phone, "tags": [CAMPAIGN_TAG]}
            )
            hook.request("PATCH", endpoints.path(endpoints.CONTACT, contact_id=made["id"]), json=consent)
            expected[str(made["id"])] = reason
    finally:
        hook.close()
    return expected


def policy_lines(
    summary: Summary, kind: str, results: Sequence[Mapping[str, Any]], expected: Mapping[str, str]
) -> None:
    """Add the skip counts of ``results`` (the mapped sends or enrollments) to ``summary``, and check
    that each contact in ``expected`` was kept out for its reason."""
    counts = {
        reason: sum(int((r.get("skipped") or {}).get(reason, 0)) for r in results) for reason in SKIP_REASONS
    }
    listed = {
        contact: reason
        for r in results
        for reason, contacts in (r.get("skipped_recipients") or {}).items()
        for contact in contacts
    }
    summary.check(
        f"{kind} kept out as seeded", sum(listed.get(c) == why for c, why in expected.items()), len(expected)
    )
    shown = ", ".join(f"{n} {reason}" for reason, n in counts.items() if n) or "nobody"
    summary.lines.append(f"  {kind + ' kept out':<26}{sum(counts.values()):>6}       ({shown})")


def _first(xcoms: Mapping[str, list[Any]], task_id: str) -> Any:
    values = xcoms.get(task_id)
    if not values:
        raise DemoError(f"task {task_id} left no result")
    return values[0]


def _local(uri: str) -> str:
    return uri.removeprefix("file://")


def summarize(
    airflow: AirflowApi,
    home: DemoHome,
    sandbox: SandboxServer,
    api_key: str,
    since: datetime,
    until: datetime,
    kept_out: Mapping[str, str],
) -> Summary:
    """Read both runs' results through the REST API and cross-check them with the sandbox.

    :param kept_out: contact id -> the reason the policy must give for not texting them.
    """
    summary = Summary()
    admin = sandbox.admin
    sync_run, sync_state = airflow.latest_run(DAG_IDS[0])
    if sync_state != "success":
        raise DemoError(f"{DAG_IDS[0]} run {sync_run} ended {sync_state}")
    sync = airflow.results(DAG_IDS[0], sync_run)
    summary.lines.append(
        f"votel_nightly_crm_sync ({sync_state}), data interval [{since:%Y-%m-%d}, {until:%Y-%m-%d}):"
    )
    for task_id, label, endpoint in (
        ("extract_call_logs", "call logs", endpoints.CALL_LOGS),
        ("extract_meeting_logs", "meeting logs", endpoints.MEETING_LOGS),
        ("extract_messaging_logs", "messaging logs", endpoints.MESSAGING_LOGS),
    ):
        manifest = _first(sync, task_id)
        path = _local(manifest["uri"])
        file_rows = sum(1 for line in Path(path).read_text().splitlines() if line.strip())
        summary.check(f"{label} rows", int(manifest["records"]), sandbox_log_count(endpoint, since, until))
        summary.check(f"{label} file rows", file_rows, int(manifest["records"]))
        summary.files[label] = path
        summary.lines.append(f"  {label + ' extracted':<26}{manifest['records']:>6} rows  -> {path}")
    upsert = _first(sync, "upsert_leads")
    summary.lines.append(
        f"  {'leads upserted':<26}{upsert['rows']:>6}       ({upsert['created']} created, "
        f"{upsert['updated']} updated, {upsert['failed']} refused)"
    )
    export = _first(sync, "export_contacts")
    summary.files["contacts"] = _local(export["uri"])
    summary.lines.append(
        f"  {'contacts exported':<26}{export['records']:>6}       -> {_local(export['uri'])}"
    )
    loaded = _first(sync, "load_call_logs")
    in_table = table_rows(home.warehouse, loaded["table"])
    summary.check("warehouse rows", int(loaded["rows"]), int(_first(sync, "extract_call_logs")["records"]))
    summary.files["warehouse"] = str(home.warehouse)
    summary.lines.append(
        f"  {'SQL table ' + loaded['table']:<26}{loaded['rows']:>6} rows  -> {home.warehouse} (SQLite, "
        f"{in_table} rows in all)"
    )

    camp_run, camp_state = airflow.latest_run(DAG_IDS[1])
    if camp_state != "success":
        raise DemoError(f"{DAG_IDS[1]} run {camp_run} ended {camp_state}")
    camp = airflow.results(DAG_IDS[1], camp_run)
    sends = camp.get("send_sms", [])
    texted = sum(int(s["sent"]) + int(s["resumed"]) for s in sends)
    enrolled = sum(
        len(e["enrolled"]) + len(e["already_enrolled"]) for e in camp.get("enroll_in_workflow", [])
    )
    deliveries = camp.get("wait_for_delivery", [])
    delivered = sum(len(d.get("delivered", [])) for d in deliveries)
    bounced = sum(len(d.get("failed", [])) + len(d.get("undelivered", [])) for d in deliveries)
    followups = len(_first(camp, "create_followup_tasks"))
    link = _first(camp, "create_tracking_link")
    summary.check("people texted", texted, len(admin.records(api_key, "message")))
    summary.check("enrollments", enrolled, len(admin.records(api_key, "enrollment")))
    summary.check("follow-up tasks", followups, len(admin.records(api_key, "task")))
    summary.check("follow-ups per bounce", followups, bounced)
    summary.lines.append(f"votel_outreach_campaign ({camp_state}), {len(sends)} batch(es):")
    summary.lines.append(f"  {'contacts found':<26}{sum(len(b) for b in _first(camp, 'find_contacts')):>6}")
    summary.lines.append(f"  {'enrolled in the workflow':<26}{enrolled:>6}")
    summary.lines.append(f"  {'people texted':<26}{texted:>6}       with {link['short_url']}")
    summary.lines.append(f"  {'delivered':<26}{delivered:>6}")
    summary.lines.append(f"  {'failed or undelivered':<26}{bounced:>6}")
    summary.lines.append(f"  {'follow-up tasks created':<26}{followups:>6}")
    # The outreach policy, before any request: who was not enrolled or texted, and why.
    policy_lines(summary, "enrollments", camp.get("enroll_in_workflow", []), {
        c: why for c, why in kept_out.items() if why == "opted_out"
    })  # fmt: skip
    policy_lines(summary, "texts", sends, kept_out)
    return summary


def read_and_check(
    console: Console,
    home: DemoHome,
    env: Mapping[str, str],
    sandbox: SandboxServer,
    api_key: str,
    since: datetime,
    until: datetime,
    kept_out: Mapping[str, str],
) -> Summary:
    """Start the REST API on the demo's home, read both runs through it, then stop it."""
    started = time.monotonic()
    console.say("  ... airflow api-server (to read the runs through the REST API)")
    with home.log_file.open("a") as log:
        log.write("\n===== airflow api-server\n")
        log.flush()
        airflow = AirflowApi(env, log)
        try:
            console.say(f"  ok  airflow api-server ({time.monotonic() - started:.1f}s)")
            return summarize(airflow, home, sandbox, api_key, since, until, kept_out)
        finally:
            airflow.stop()


# -- the two commands -----------------------------------------------------------------------------


def run_demo(home: DemoHome, dags_folder: Path, out: IO[str] = sys.stdout) -> int:
    """The main job; returns the process exit code."""
    home.root.mkdir(parents=True, exist_ok=True)
    print("Votel provider demo: the example DAGs against a local sandbox", file=out, flush=True)
    with SandboxServer() as sandbox:
        api_key = sandbox.api_keys[0]
        console = Console(home.log_file, [api_key, sandbox.admin_token], out)
        console.say(f"  ok  sandbox on {sandbox.base_url} (API key {api_key})")
        # The sandbox's today (the real one unless VOTEL_SANDBOX_TODAY pins it): the run's day
        # then lies in the seeded week of logs.
        until = datetime.fromisoformat(sandbox.admin.config()["today"]).replace(tzinfo=timezone.utc)
        since = until - timedelta(days=1)
        env = home.environment(sandbox, api_key, dags_folder)
        # The outreach policy judges quiet hours by its clock: the demo's simulated day at 18:00 UTC
        # (11:00 in San Francisco, 14:00 in New York), so the campaign's texts go out in the send
        # window whatever hour the demo is run at, rather than waiting for the next morning.
        env.setdefault(POLICY_CLOCK_ENV, (until + timedelta(hours=18)).isoformat())
        # This process reads the sandbox through the provider's hook for the cross-check.
        os.environ.update({k: env[k] for k in ("AIRFLOW_HOME", "AIRFLOW_CONN_VOTEL_DEFAULT")})
        airflow = [sys.executable, "-m", "airflow"]
        try:
            # People the campaign must not reach tonight: opted out, or asleep where they live.
            kept_out = add_kept_out_contacts()
            console.run("airflow db migrate", [*airflow, "db", "migrate"], env, DAG_TEST_TIMEOUT)
            for dag_id in DAG_IDS:
                console.run(
                    f"airflow dags test {dag_id} {until:%Y-%m-%d}",
                    [*airflow, "dags", "test", dag_id, until.strftime("%Y-%m-%d")],
                    env,
                    DAG_TEST_TIMEOUT,
                )
            summary = read_and_check(console, home, env, sandbox, api_key, since, until, kept_out)
        except (DemoError, OSError, sqlite3.Error, KeyError, requests.RequestException) as exc:
            console.say(f"\nFAILED: {exc}\n--- last {LOG_TAIL_LINES} lines of {home.log_file} ---")
            console.say(console.tail())
            return 1
        console.say("")
        for line in summary.lines:
            console.say(line)
        (home.root / "summary.json").write_text(json.dumps(summary.as_json(), indent=2))
        if summary.mismatches:
            console.say(f"\nCross-check FAILED for {summary.mismatches}: {summary.checks}")
            return 1
        checked = ", ".join(f"{name} {pair['run']}" for name, pair in summary.checks.items())
        console.say(f"\nCross-checked with the sandbox's records: {checked}.")
        console.say(f"Full Airflow output: {home.log_file}")
    return 0


def run_ui(home: DemoHome, dags_folder: Path, out: IO[str] = sys.stdout) -> int:
    """The sandbox plus ``airflow standalone``, until Ctrl-C; returns the exit code."""
    home.root.mkdir(parents=True, exist_ok=True)
    # Slower stages than the tests' so the waits are visible in the UI.
    with SandboxServer(
        call_stage_seconds=3, message_stage_seconds=2, enrollment_seconds=5, job_seconds=2
    ) as sandbox:
        api_key = sandbox.api_keys[0]
        console = Console(home.log_file, [api_key, sandbox.admin_token], out)
        env = home.environment(sandbox, api_key, dags_folder)
        port = free_port()
        env["AIRFLOW__API__PORT"] = str(port)
        env["VOTEL_EXAMPLES_POKE_INTERVAL"] = "2"
        console.say(f"  ok  sandbox on {sandbox.base_url} (API key {api_key})")
        console.say(f"  ... airflow standalone (output in {home.log_file})")
        with home.log_file.open("a") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "airflow", "standalone"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                password = _wait_for_password(home.root, proc)
                console.say(f"\nAirflow UI: http://localhost:{port}  (user admin, password {password})")
                console.say("DAGs: " + ", ".join(sorted(p.stem for p in dags_folder.glob("votel_*.py"))))
                console.say("Unpause a DAG and trigger it; Ctrl-C stops Airflow and the sandbox.")
                while proc.poll() is None:
                    time.sleep(1)
                console.say(f"airflow standalone exited ({proc.returncode}); last lines:\n{console.tail()}")
                return 1
            except KeyboardInterrupt:
                console.say("\nStopping Airflow and the sandbox...")
                return 0
            except DemoError as exc:
                console.say(f"FAILED: {exc}\n{console.tail()}")
                return 1
            finally:
                stop_process_group(proc, 30)


def _wait_for_password(root: Path, proc: subprocess.Popen[bytes]) -> str:
    """The admin password ``airflow standalone`` generates into the Airflow home."""
    deadline = time.monotonic() + UI_LOGIN_TIMEOUT
    candidates = [
        root / "simple_auth_manager_passwords.json.generated",
        root / "standalone_admin_password.txt",
    ]
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise DemoError(f"airflow standalone exited early ({proc.returncode})")
        for path in candidates:
            if path.exists() and path.stat().st_size:
                text = path.read_text().strip()
                try:
                    return str(json.loads(text).get("admin", text))
                except (json.JSONDecodeError, AttributeError):
                    return text
        time.sleep(1)
    return f"see {candidates[0]}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dev.demo", description=__doc__.split("\n")[0])
    parser.add_argument("--ui", action="store_true", help="start Airflow (standalone) with the sandbox")
    args = parser.parse_args(argv)
    dags_folder = example_dags_folder()
    if dags_folder is None:
        print(
            "The example DAGs were not found: run the demo from a checkout, "
            "or set VOTEL_EXAMPLE_DAGS to their folder.",
            file=sys.stderr,
        )
        return 2
    home = DemoHome(Path(os.environ.get("VOTEL_DEMO_HOME") or Path.cwd() / ".airflow-demo").resolve())
    return run_ui(home, dags_folder) if args.ui else run_demo(home, dags_folder)


if __name__ == "__main__":
    sys.exit(main())
