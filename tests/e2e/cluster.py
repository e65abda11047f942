"""Start and stop a distributed Airflow on this machine, every service on a free loopback port.

PostgreSQL (Airflow's metadata database and the warehouse), Redis (the Celery broker), an S3
server (moto), the Votel sandbox, then Airflow's api-server, scheduler, dag-processor, triggerer
and two Celery workers, each its own process in its own process group with its own log file.
:class:`Cluster` is a context manager: whatever happens inside, every service it started is
stopped and its folder removed. A service that does not come up fails at once with its name and
its log file, after stopping what was already running.

Tests reach into it the way an operations team would: ``cluster.service("worker-1").kill()``
loses a machine, ``cluster.service("triggerer").start()`` brings one back.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from votel_airflow.sandbox.server import SandboxServer

REPO = Path(__file__).resolve().parents[2]
E2E_DAGS = Path(__file__).resolve().parent / "dags"


def _postgres_bin() -> Path:
    """Debian's PostgreSQL binaries (the newest installed), or ``$VOTEL_E2E_PG_BIN``."""
    if "VOTEL_E2E_PG_BIN" in os.environ:
        return Path(os.environ["VOTEL_E2E_PG_BIN"])
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    return found[-1] if found else Path("/usr/lib/postgresql/15/bin")


PG_BIN = _postgres_bin()
BUCKET = "votel-e2e"
S3_CONN_ID = "e2e_s3"
START_TIMEOUT = 180.0
STOP_TIMEOUT = 20.0
#: Votel connections to the sandbox, one tenant each, so each scenario counts only what it sent.
VOTEL_CONNECTIONS = ("votel_default", "votel_send", "votel_extract")


class ServiceError(RuntimeError):
    """A service did not start; the message names it and its log file."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


@dataclass
class Service:
    """One long-running process: started in its own process group, logged to ``log``.

    :param name: how errors and reports name it.
    :param argv: the command.
    :param log: the file its stdout and stderr go to (appended to on a restart).
    :param env: its environment.
    :param ready: true once it serves; polled after start.
    :param user: run as this user (``runuser``) when we are root.
    :param stop_signal: what asks it to stop cleanly (PostgreSQL's fast shutdown is SIGINT).
    """

    name: str
    argv: list[str]
    log: Path
    env: dict[str, str]
    ready: Callable[[], bool]
    user: str | None = None
    stop_signal: int = signal.SIGTERM
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    started_at: float = 0.0

    def start(self, timeout: float = START_TIMEOUT) -> Service:
        argv = self.argv
        self.started_at = time.time()
        if self.user and os.geteuid() == 0:
            argv = ["runuser", "-u", self.user, "--", *argv]
        with self.log.open("ab") as out:
            try:
                self.proc = subprocess.Popen(
                    argv, stdout=out, stderr=subprocess.STDOUT, env=self.env, start_new_session=True
                )
            except OSError as exc:
                raise ServiceError(f"{self.name} could not be started ({exc}); log: {self.log}") from None
        deadline = time.monotonic() + timeout
        while not self._ready():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                why = "exited" if self.proc.poll() is not None else f"was not ready within {timeout:.0f} s"
                self.stop()
                raise ServiceError(f"{self.name} {why}; log: {self.log}\n{_tail(self.log)}")
            time.sleep(0.5)
        return self

    def _ready(self) -> bool:
        try:
            return self.ready()
        except Exception:
            return False

    @property
    def pid(self) -> int:
        assert self.proc is not None, f"{self.name} is not running"
        return self.proc.pid

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL the process group and every descendant: the machine is gone, with all it ran.

        Airflow's task supervisor starts each task in a process group of its own, so the group
        alone would leave the task running on a "lost" machine.
        """
        descendants = self.descendants()
        self._signal_group(signal.SIGKILL)
        for pid in descendants:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self._reap()

    def descendants(self) -> set[int]:
        """Every process started by this service, however deep."""
        import psutil

        if self.proc is None:
            return set()
        try:
            return {p.pid for p in psutil.Process(self.proc.pid).children(recursive=True)}
        except psutil.NoSuchProcess:
            return set()

    def stop(self) -> None:
        """Signal the process group to stop, then SIGKILL whatever is left after ``STOP_TIMEOUT``."""
        if self.proc is None:
            return
        self._signal_group(self.stop_signal)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(STOP_TIMEOUT)
        self._signal_group(signal.SIGKILL)
        self._reap()

    def _signal_group(self, signum: int) -> None:
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signum)

    def _reap(self) -> None:
        if self.proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(STOP_TIMEOUT)
            self.proc = None


@dataclass
class Endpoints:
    """Where the running services are."""

    postgres_port: int = 0
    redis_port: int = 0
    s3_port: int = 0
    api_port: int = 0

    @property
    def metadata_db(self) -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.postgres_port}/airflow"

    @property
    def warehouse_uri(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.postgres_port}/warehouse"

    @property
    def s3_url(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"


class Cluster:
    """The whole deployment; a context manager that always cleans up.

    :param workers: how many Celery workers.
    :param sandbox_stage_seconds: how long a sandbox call spends in each stage (queued, ringing,
        in progress): the length of every wait.
    """

    def __init__(self, *, workers: int = 2, sandbox_stage_seconds: float = 1.0) -> None:
        self.workers = workers
        self.sandbox_stage_seconds = sandbox_stage_seconds
        self.root = Path(tempfile.mkdtemp(prefix="votel-e2e-"))
        self.logs = self.root / "logs"
        self.logs.mkdir()
        self.at = Endpoints()
        self.services: dict[str, Service] = {}
        self.sandbox: SandboxServer | None = None
        self.sandbox_db = str(self.root / "sandbox.sqlite")
        self.api_keys: dict[str, str] = {}
        self._moto: Any = None
        self._env: dict[str, str] = {}
        self.started_in = 0.0

    # -- the whole deployment -------------------------------------------------------------

    def __enter__(self) -> Cluster:
        began = time.monotonic()
        try:
            self._start_postgres()
            self._start_redis()
            self._start_s3()
            self.start_sandbox()
            self._env = self._airflow_env()
            self._migrate()
            for name in ("api-server", "scheduler", "dag-processor", "triggerer"):
                self._add_airflow(name).start()
            for number in range(1, self.workers + 1):
                self._add_worker(number).start()
        except BaseException:
            self.close()
            raise
        self.started_in = time.monotonic() - began
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop every service, newest first, then remove the folder (logs are kept on failure
        by copying them to ``$VOTEL_E2E_KEEP_LOGS`` when set)."""
        stops: list[Callable[[], None]] = [s.stop for s in reversed(list(self.services.values()))]
        stops += [self.stop_sandbox]
        if self._moto is not None:
            stops.append(self._moto.stop)
        failures = []
        for stop in stops:
            try:  # one service that will not stop must not keep the others running
                stop()
            except BaseException as exc:
                failures.append(exc)
        self._moto = None
        keep = os.environ.get("VOTEL_E2E_KEEP_LOGS")
        if keep:
            shutil.copytree(self.logs, keep, dirs_exist_ok=True)
        shutil.rmtree(self.root, ignore_errors=True)
        if failures:
            raise failures[0]

    def service(self, name: str) -> Service:
        return self.services[name]

    def log_of(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    # -- PostgreSQL, Redis, S3 ------------------------------------------------------------

    def _start_postgres(self) -> None:
        for tool in ("initdb", "postgres"):
            if not (PG_BIN / tool).exists():
                raise ServiceError(
                    f"postgresql: {PG_BIN / tool} is missing (apt-get install postgresql, or set "
                    f"VOTEL_E2E_PG_BIN); log: {self.log_of('postgresql')}"
                )
        data = self.root / "pgdata"
        data.mkdir()
        user = "postgres" if os.geteuid() == 0 else None
        if user:
            # initdb refuses to run as root; the data folder must belong to its user.
            uid = pwd.getpwnam(user).pw_uid
            os.chown(data, uid, -1)
            os.chmod(self.root, 0o755)
            os.chown(self.logs, uid, -1)
        log = self.log_of("postgresql")
        argv = [str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8"]
        if user:
            argv = ["runuser", "-u", user, "--", *argv]
        with log.open("ab") as out:
            done = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, check=False)
        if done.returncode:
            raise ServiceError(f"postgresql: initdb failed; log: {log}\n{_tail(log)}")
        self.at.postgres_port = free_port()
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.at.postgres_port),
            "unix_socket_directories": str(data),
            "max_connections": "400",
            # A test database: durability across a power cut is not what is tested.
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
        }
        argv = [str(PG_BIN / "postgres"), "-D", str(data)]
        for key, value in settings.items():
            argv += ["-c", f"{key}={value}"]
        postgres = self._add("postgresql", argv, os.environ.copy(), self._postgres_ready, user=user)
        postgres.stop_signal = signal.SIGINT
        postgres.start()
        import psycopg2

        with contextlib.closing(psycopg2.connect(self._pg_dsn("postgres"))) as conn:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute("CREATE DATABASE airflow")
                cur.execute("CREATE DATABASE warehouse")

    def _pg_dsn(self, db: str) -> str:
        return f"host=127.0.0.1 port={self.at.postgres_port} user=postgres dbname={db} connect_timeout=3"

    def _postgres_ready(self) -> bool:
        import psycopg2

        psycopg2.connect(self._pg_dsn("postgres")).close()
        return True

    def warehouse_rows(self, sql: str) -> list[tuple[Any, ...]]:
        """Run a query on the warehouse database; its rows."""
        import psycopg2

        with contextlib.closing(psycopg2.connect(self._pg_dsn("warehouse"))) as conn, conn.cursor() as cur:
            cur.execute(sql)
            return list(cur.fetchall())

    def _start_redis(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise ServiceError(f"redis: redis-server is missing (apt-get install redis-server); "
                               f"log: {self.log_of('redis')}")  # fmt: skip
        self.at.redis_port = free_port()
        argv = [binary, "--bind", "127.0.0.1", "--port", str(self.at.redis_port), "--save", "",
                "--appendonly", "no", "--dir", str(self.root)]  # fmt: skip
        self._add("redis", argv, os.environ.copy(), lambda: self._redis_ping()).start()

    def _redis_ping(self) -> bool:
        import redis

        return bool(redis.Redis(host="127.0.0.1", port=self.at.redis_port, socket_timeout=1).ping())

    def _start_s3(self) -> None:
        from moto.server import ThreadedMotoServer

        self.at.s3_port = free_port()
        try:
            self._moto = ThreadedMotoServer(ip_address="127.0.0.1", port=self.at.s3_port, verbose=False)
            self._moto.start()
            self.s3().create_bucket(Bucket=BUCKET)
        except Exception as exc:
            raise ServiceError(
                f"s3 (moto, in this process) did not start on port {self.at.s3_port}: {exc}"
            ) from exc

    def s3(self) -> Any:
        """A boto3 S3 client of the test's own, to look at the bucket."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.at.s3_url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name="us-east-1",
        )

    def s3_keys(self, prefix: str = "") -> dict[str, int]:
        """Every object under ``prefix``: key -> size."""
        pages = self.s3().get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
        return {o["Key"]: o["Size"] for page in pages for o in page.get("Contents", [])}

    def s3_read(self, key: str) -> bytes:
        body: bytes = self.s3().get_object(Bucket=BUCKET, Key=key)["Body"].read()
        return body

    # -- the Votel sandbox ----------------------------------------------------------------

    def start_sandbox(self, port: int = 0) -> SandboxServer:
        """Start the sandbox on ``port`` (0: a free one) over the same SQLite state as before."""
        stage = self.sandbox_stage_seconds
        self.sandbox = SandboxServer(
            db=self.sandbox_db, port=port, call_stage_seconds=stage, message_stage_seconds=stage / 2
        )
        try:
            self.sandbox.start()
        except Exception as exc:
            self.sandbox = None
            raise ServiceError(f"votel sandbox did not start on port {port}: {exc}") from exc
        if not self.api_keys:
            self.api_keys = {conn: self.sandbox.admin.create_account(balance=10_000.0)
                             for conn in VOTEL_CONNECTIONS}  # fmt: skip
        return self.sandbox

    def stop_sandbox(self) -> None:
        if self.sandbox is not None:
            self.sandbox.stop()

    # -- Airflow ----------------------------------------------------------------------------

    def _airflow_env(self) -> dict[str, str]:
        assert self.sandbox is not None
        home = self.root / "airflow"
        dags = self.root / "dags"
        dags.mkdir()
        # One folder, as a deployment ships it: the example DAGs and the scenarios' DAGs.
        for source in [*sorted((REPO / "dags_examples").glob("*.py")), *sorted(E2E_DAGS.glob("e2e_*.py"))]:
            (dags / source.name).symlink_to(source)
        self.at.api_port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PYTEST"))}
        aws = {"endpoint_url": self.at.s3_url, "region_name": "us-east-1"}
        env.update(
            {
                "AIRFLOW_HOME": str(home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
                "AIRFLOW__CORE__FERNET_KEY": _fernet_key(),
                "AIRFLOW__CORE__PARALLELISM": "64",
                "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "64",
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.at.api_url}/execution/",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.at.metadata_db,
                "AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:{self.at.redis_port}/0",
                "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + self.at.metadata_db,
                # Task starts are CPU-bound on two cores: more at once only queue up at the
                # api-server, whose answers then time out.
                "AIRFLOW__CELERY__WORKER_CONCURRENCY": "8",
                "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "60",
                "AIRFLOW__API__PORT": str(self.at.api_port),
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__BASE_URL": self.at.api_url,
                "AIRFLOW__API__WORKERS": "1",
                "AIRFLOW__API__MAXIMUM_PAGE_LIMIT": "1000",
                "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
                "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
                # Only runs triggered through the REST API: no scheduled run interferes.
                "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
                # A worker lost with its task is noticed in seconds, not the default five minutes.
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "30",
                "AIRFLOW__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL": "10",
                "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_THRESHOLD": "15",
                "AIRFLOW__SCHEDULER__MAX_TIS_PER_QUERY": "512",
                "AIRFLOW__TRIGGERER__CAPACITY": "2000",
                # A lost triggerer's waits move to its successor once this many seconds pass.
                "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "15",
                "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
                "AIRFLOW_CONN_VOTEL_WAREHOUSE": self.at.warehouse_uri,
                f"AIRFLOW_CONN_{S3_CONN_ID.upper()}": json.dumps(
                    {"conn_type": "aws", "login": "testing", "password": "testing", "extra": aws}
                ),
                # The example DAGs' waits and retries, shortened for a test run.
                "VOTEL_EXAMPLES_POKE_INTERVAL": "2",
                "VOTEL_EXAMPLES_RETRY_DELAY": "5",
                "VOTEL_EXAMPLES_EVENT_POLL_INTERVAL": "2",
                "VOTEL_DATA_DIR": str(self.root / "data"),
                "C_FORCE_ROOT": "true",
                "PYTHONUNBUFFERED": "1",
            }
        )
        for conn_id, key in self.api_keys.items():
            env[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(
                {"conn_type": "votel", "host": self.sandbox.base_url, "password": key}
            )
        return env

    def _airflow(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "airflow", *args]

    def _migrate(self) -> None:
        log = self.log_of("airflow-db-migrate")
        with log.open("ab") as out:
            done = subprocess.run(
                self._airflow("db", "migrate"),
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self._env,
                check=False,
            )
        if done.returncode:
            raise ServiceError(f"airflow db migrate failed; log: {log}\n{_tail(log)}")

    def _add_airflow(self, name: str) -> Service:
        ready: Callable[[], bool] = lambda: self._job_alive(name)  # noqa: E731
        if name == "api-server":
            ready = lambda: port_open(self.at.api_port)  # noqa: E731
        return self._add(name, self._airflow(name), self._env, ready)

    def _add_worker(self, number: int) -> Service:
        name = f"worker-{number}"
        env = dict(self._env, AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=str(free_port()))
        argv = self._airflow("celery", "worker", "--celery-hostname", f"{name}@%h", "--without-mingle",
                             "--without-gossip")  # fmt: skip
        return self._add(name, argv, env, lambda: self._worker_ready(name))

    def _add(
        self,
        name: str,
        argv: list[str],
        env: dict[str, str],
        ready: Callable[[], bool],
        user: str | None = None,
    ) -> Service:
        service = Service(name, argv, self.log_of(name), env, ready, user)
        self.services[name] = service
        return service

    def _job_alive(self, name: str) -> bool:
        """The component wrote its first heartbeat to the metadata database."""
        job_type = {"scheduler": "SchedulerJob", "dag-processor": "DagProcessorJob",
                    "triggerer": "TriggererJob"}[name]  # fmt: skip
        import psycopg2

        since = self.services[name].started_at
        with contextlib.closing(psycopg2.connect(self._pg_dsn("airflow"))) as conn, conn.cursor() as cur:
            cur.execute(
                "SELECT count(*) FROM job WHERE job_type = %s AND state = 'running'"
                " AND latest_heartbeat > to_timestamp(%s)",
                (job_type, since),
            )
            row = cur.fetchone()
            return bool(row and row[0])

    def _worker_ready(self, name: str) -> bool:
        return "ready." in _tail(self.log_of(name), 200_000) and self.services[name].running()

    def pids_under(self, name: str) -> set[int]:
        """The service's process and every process it started."""
        service = self.services[name]
        return {service.pid, *service.descendants()} if service.running() else set()


def _fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()
