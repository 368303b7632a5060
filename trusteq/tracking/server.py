"""One MLflow tracking server on PostgreSQL for every job of a study (sweeps across machines).

``python -m trusteq.tracking.server start --dir mlruns/server --port 5000`` (``make
tracking-server``) builds, once, a PostgreSQL cluster under ``<dir>/pgdata`` with Debian's
``postgresql`` binaries (``initdb``), starts it on a loopback port (``pg_ctl``), creates the
``mlflow`` database (``createdb``), then runs ``mlflow server --backend-store-uri postgresql://…
--artifacts-destination <dir>/artifacts`` on ``--host``/``--port``. Jobs log there with
``logger.tracking_uri=http://<host>:<port>``. ``stop`` stops both; ``status`` prints the state.

Layout of ``<dir>``: ``pgdata/`` (the cluster), ``artifacts/`` (run artifacts, proxied by the
server: clients upload over HTTP, so other machines need no shared artifact folder),
``logs/postgres.log``, ``logs/mlflow.log``, ``server.json`` (ports, pids, URIs; mode 600: it holds
the database password).

Security: PostgreSQL listens on 127.0.0.1 only, with a random password (scram-sha-256) and no
Unix socket; only the MLflow server is reachable from other machines, and only when started with
``--host 0.0.0.0`` (MLflow has no authentication of its own here: keep it on a trusted network).

PostgreSQL refuses to run as root: as root the cluster is created and run as the ``postgres``
user (created by Debian's package) through ``runuser``, so ``<dir>`` must be reachable by it (its
parents traversable); the CLI says so when they are not.

Source: https://mlflow.org/docs/latest/self-hosting/architecture/tracking-server/ and
https://www.postgresql.org/docs/15/app-initdb.html, app-pg-ctl.html.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

DB_USER = "mlflow"
DB_NAME = "mlflow"
STATE_FILE = "server.json"


class ServerError(RuntimeError):
    """The tracking server could not be started or stopped (the message says why and what to do)."""


@dataclass
class ServerState:
    """What ``start`` wrote to ``<dir>/server.json``.

    Attributes:
        dir: the server folder (absolute).
        host: the MLflow server's bind address.
        port: the MLflow server's port.
        pg_port: PostgreSQL's loopback port.
        mlflow_pid: the MLflow server's process id (leader of its own process group).
        password: the database password of user ``mlflow``.
        tracking_uri: what jobs pass as ``logger.tracking_uri``.
    """

    dir: str
    host: str
    port: int
    pg_port: int
    mlflow_pid: int
    password: str
    tracking_uri: str

    @property
    def backend_store_uri(self) -> str:
        """``postgresql+psycopg2://mlflow:<password>@127.0.0.1:<pg_port>/mlflow``.

        The driver is explicit: SQLAlchemy 2.1 maps a bare ``postgresql://`` to psycopg 3,
        while the ``server`` extra installs ``psycopg2-binary``.
        """
        return f"postgresql+psycopg2://{DB_USER}:{self.password}@127.0.0.1:{self.pg_port}/{DB_NAME}"


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on `host` right now (the kernel's pick)."""
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def postgres_bin() -> Path:
    """The folder of PostgreSQL's server binaries (``initdb``, ``pg_ctl``).

    ``$PG_BIN`` if set, else the newest ``/usr/lib/postgresql/<version>/bin`` (Debian), else the
    folder of ``initdb`` on ``PATH``.

    Raises:
        ServerError: none found (``apt-get install -y postgresql``).
    """
    candidates = [Path(os.environ["PG_BIN"])] if os.environ.get("PG_BIN") else []
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0,
        reverse=True,
    )
    candidates += versions
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).parent)
    for folder in candidates:
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    raise ServerError(
        "PostgreSQL's server binaries (initdb, pg_ctl) were not found; install them with "
        "`apt-get install -y postgresql` (Debian/Ubuntu) or set PG_BIN to their folder"
    )


def _as_postgres(command: list[str]) -> list[str]:
    """Run as the ``postgres`` user when we are root (the server refuses root)."""
    if os.geteuid() != 0:
        return command
    if shutil.which("runuser") is None:
        raise ServerError("running as root needs `runuser` (util-linux) to start PostgreSQL")
    return ["runuser", "-u", "postgres", "--", *command]


def _run(command: list[str], what: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        command, capture_output=True, text=True, env={**os.environ, **(env or {})}, check=False
    )
    if done.returncode != 0:
        raise ServerError(f"{what} failed ({' '.join(command)}):\n{done.stdout}{done.stderr}")
    return done.stdout


def _hand_to_postgres(folder: Path) -> None:
    """As root: make `folder` owned by ``postgres`` and check that its parents let it through."""
    if os.geteuid() != 0:
        return
    import pwd

    account = pwd.getpwnam("postgres")
    os.chown(folder, account.pw_uid, account.pw_gid)
    reach = subprocess.run(_as_postgres(["test", "-w", str(folder)]), check=False)
    if reach.returncode != 0:
        raise ServerError(
            f"user postgres cannot reach {folder}: a parent folder is not traversable by other "
            "users (e.g. a 0700 home or pytest tmp folder); pass a --dir postgres can reach, "
            "or run as a non-root user"
        )


def _wait_http(url: str, timeout: float, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise ServerError(f"the MLflow server exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise ServerError(f"{url} did not answer within {timeout:.0f} s")


def read_state(folder: str | Path) -> ServerState | None:
    """The state ``start`` left in `folder`, or None."""
    path = Path(folder) / STATE_FILE
    if not path.is_file():
        return None
    return ServerState(**json.loads(path.read_text()))


def _pg_running(pgdata: Path) -> bool:
    if not (pgdata / "postmaster.pid").is_file():
        return False
    done = subprocess.run(
        _as_postgres([str(postgres_bin() / "pg_ctl"), "-D", str(pgdata), "status"]),
        capture_output=True,
        check=False,
    )
    return done.returncode == 0


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def start(
    folder: str | Path,
    port: int = 5000,
    host: str = "127.0.0.1",
    pg_port: int | None = None,
    workers: int = 1,
    timeout: float = 120.0,
) -> ServerState:
    """Create (first time) and start PostgreSQL, then the MLflow server in front of it.

    Idempotent: a cluster already under ``<folder>/pgdata`` is reused (same password, port
    and runs); a running server is left alone and its state returned.

    Args:
        folder: the server folder (created); holds the cluster, artifacts, logs and state.
        port: the MLflow server's port.
        host: the MLflow server's bind address (``0.0.0.0`` to serve other machines).
        pg_port: PostgreSQL's loopback port; None = the previous one, else a free port.
        workers: MLflow server worker processes (uvicorn).
        timeout: seconds to wait for the server to answer ``/health``.

    Returns:
        The running server's :class:`ServerState`.

    Raises:
        ServerError: PostgreSQL missing or unreachable, a port taken, or a start that failed
            (the message names the log to read).
    """
    folder = Path(folder).resolve()
    previous = read_state(folder)
    if previous is not None and _pid_alive(previous.mlflow_pid):
        return previous
    bindir = postgres_bin()
    pgdata, artifacts, logs = folder / "pgdata", folder / "artifacts", folder / "logs"
    for path in (folder, artifacts, logs):
        path.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o711)  # postgres (when we are root) must traverse it, not list it
    password = previous.password if previous else secrets.token_urlsafe(24)
    pg_port = pg_port or (previous.pg_port if previous else free_port())
    pg_log = logs / "postgres.log"
    if not (pgdata / "PG_VERSION").is_file():
        pgdata.mkdir(mode=0o700, exist_ok=True)
        _hand_to_postgres(pgdata)
        pwfile = folder / ".initdb-password"  # initdb wants an empty pgdata
        pwfile.write_text(password + "\n")
        os.chmod(pwfile, 0o600)
        _hand_to_postgres(pwfile)
        command = [str(bindir / "initdb"), "-D", str(pgdata), "-U", DB_USER, f"--pwfile={pwfile}"]
        command += ["--auth-local=scram-sha-256", "--auth-host=scram-sha-256"]
        command += ["-E", "UTF8", "--locale=C"]
        try:
            _run(_as_postgres(command), "initdb")
        finally:
            pwfile.unlink(missing_ok=True)
    if not pg_log.exists():
        pg_log.touch()
    _hand_to_postgres(pg_log)
    if not _pg_running(pgdata):
        options = f"-p {pg_port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''"
        command = [str(bindir / "pg_ctl"), "-D", str(pgdata), "-l", str(pg_log), "-w"]
        command += ["-t", str(int(timeout)), "-o", options, "start"]
        try:
            _run(_as_postgres(command), "pg_ctl start")
        except ServerError as error:
            tail = pg_log.read_text(errors="replace")[-2000:] if pg_log.exists() else ""
            raise ServerError(f"{error}\n--- {pg_log} (tail) ---\n{tail}") from None
    environment = {"PGPASSWORD": password}
    exists = _run(
        [str(bindir / "psql"), "-h", "127.0.0.1", "-p", str(pg_port), "-U", DB_USER, "-d",
         "postgres", "-tAc", f"SELECT 1 FROM pg_database WHERE datname = '{DB_NAME}'"],
        "psql",
        environment,
    )  # fmt: skip
    if exists.strip() != "1":
        _run(
            [str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(pg_port), "-U", DB_USER,
             DB_NAME],
            "createdb",
            environment,
        )  # fmt: skip
    state = ServerState(
        dir=str(folder),
        host=host,
        port=int(port),
        pg_port=int(pg_port),
        mlflow_pid=0,
        password=password,
        tracking_uri=f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}",
    )
    mlflow = Path(sys.executable).with_name("mlflow")
    command = [str(mlflow if mlflow.is_file() else "mlflow"), "server", "--host", host]
    command += ["--port", str(port), "--workers", str(workers)]
    command += ["--artifacts-destination", artifacts.as_uri()]
    server_env = {
        **os.environ,
        "MLFLOW_BACKEND_STORE_URI": state.backend_store_uri,  # not on the command line (ps)
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    }
    with open(logs / "mlflow.log", "ab") as log_file:
        process = subprocess.Popen(
            command,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=server_env,
            start_new_session=True,  # its own process group: `stop` ends it and its workers
        )
    state.mlflow_pid = process.pid
    path = folder / STATE_FILE
    path.write_text(json.dumps(asdict(state), indent=2))
    os.chmod(path, 0o600)
    try:
        _wait_http(f"{state.tracking_uri}/health", timeout, process)
    except ServerError as error:
        stop(folder)
        tail = (logs / "mlflow.log").read_text(errors="replace")[-3000:]
        raise ServerError(f"{error}\n--- {logs / 'mlflow.log'} (tail) ---\n{tail}") from None
    return state


def stop(folder: str | Path, timeout: float = 30.0) -> bool:
    """Stop the MLflow server (its process group) and PostgreSQL (``pg_ctl stop -m fast``).

    Returns:
        True if something was running.
    """
    folder = Path(folder).resolve()
    state = read_state(folder)
    stopped = False
    if state is not None and state.mlflow_pid and _pid_alive(state.mlflow_pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(state.mlflow_pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _pid_alive(state.mlflow_pid) and time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(state.mlflow_pid, os.WNOHANG)
            time.sleep(0.2)
        if _pid_alive(state.mlflow_pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(state.mlflow_pid, signal.SIGKILL)
        stopped = True
    pgdata = folder / "pgdata"
    if _pg_running(pgdata):
        command = [str(postgres_bin() / "pg_ctl"), "-D", str(pgdata), "-m", "fast", "-w", "stop"]
        _run(_as_postgres(command), "pg_ctl stop")
        stopped = True
    return stopped


def status(folder: str | Path) -> dict[str, object]:
    """``{"mlflow": bool, "postgres": bool, "tracking_uri": str | None}``."""
    folder = Path(folder).resolve()
    state = read_state(folder)
    return {
        "mlflow": bool(state and state.mlflow_pid and _pid_alive(state.mlflow_pid)),
        "postgres": _pg_running(folder / "pgdata"),
        "tracking_uri": state.tracking_uri if state else None,
    }


def main(argv: list[str] | None = None) -> int:
    """``python -m trusteq.tracking.server start|stop|status --dir DIR [--port P] ...``."""
    parser = argparse.ArgumentParser(
        prog="python -m trusteq.tracking.server", description=__doc__.split("\n")[0]
    )
    parser.add_argument("action", choices=("start", "stop", "status"))
    parser.add_argument(
        "--dir", default="mlruns/server", help="server folder (default %(default)s)"
    )
    parser.add_argument("--port", type=int, default=5000, help="MLflow server port")
    parser.add_argument("--host", default="127.0.0.1", help="bind address; 0.0.0.0 for a cluster")
    parser.add_argument("--pg-port", type=int, default=None, help="PostgreSQL loopback port")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args(argv)
    try:
        if args.action == "start":
            state = start(args.dir, args.port, args.host, args.pg_port, args.workers, args.timeout)
            print(f"MLflow tracking server on PostgreSQL: {state.tracking_uri}")
            print(f"  studies:  trusteq-study logger.tracking_uri={state.tracking_uri} ...")
            print(f"  stop:     python -m trusteq.tracking.server stop --dir {args.dir}")
        elif args.action == "stop":
            print("stopped" if stop(args.dir) else "nothing was running")
        else:
            print(json.dumps(status(args.dir)))
    except ServerError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
