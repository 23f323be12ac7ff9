"""What the real-Frappe and real-ERPNext scripts share: timed steps, processes started and stopped by PID, and the one
MariaDB and one Redis (the scripts' own processes on loopback ports) that every site uses.

Everything lives in .real-frappe/ at the repository root. Ports: REAL_FRAPPE_DB_PORT (3316), REAL_FRAPPE_REDIS_PORT (6389).
"""

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / ".real-frappe"
DB_PORT = int(os.environ.get("REAL_FRAPPE_DB_PORT", "3316"))
REDIS_PORT = int(os.environ.get("REAL_FRAPPE_REDIS_PORT", "6389"))
DB_ROOT_PASSWORD = "real-frappe-root"
ADMIN_PASSWORD = "admin"
APT_PACKAGES = ["mariadb-server", "mariadb-client", "redis-server", "pkg-config", "libmariadb-dev"]
TIMINGS = {}
LABEL = ["real-frappe"]  # the log prefix: the script that runs


def log(message: str) -> None:
    print(f"[{LABEL[0]}] {message}", file=sys.stderr, flush=True)


class step:
    """Times a step; the timings go to stderr and into the version's timings.json."""

    def __init__(self, name: str):
        self.name = name

    def __enter__(self):
        self.started = time.monotonic()
        log(f"{self.name} ...")

    def __exit__(self, *exc):
        took = time.monotonic() - self.started
        TIMINGS[self.name] = round(took, 1)
        log(f"{self.name}: {took:.1f} s" + (" (failed)" if exc[0] else ""))


def run(cmd, cwd=None, env=None, quiet=True, check=True):
    """Run a command; on failure show the tail of its output."""
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=quiet, text=True)
    if check and done.returncode != 0:
        out = ((done.stdout or "") + (done.stderr or ""))[-6000:] if quiet else ""
        raise SystemExit(f"[{LABEL[0]}] failed ({done.returncode}): {' '.join(map(str, cmd))}\n{out}")
    return done


def sha(*parts) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part if isinstance(part, bytes) else str(part).encode())
    return h.hexdigest()[:16]


# -- processes ----------------------------------------------------------------------------------------------------


def pid_alive(pid_file: Path) -> int:
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return 0
    try:  # a zombie (our own exited child) or a recycled PID is not ours
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return 0
    except OSError:
        return 0
    return pid


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def wait_for(what: str, ready, timeout: float, pid_file: Path = None, log_file: Path = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        if pid_file is not None and not pid_alive(pid_file):
            tail = log_file.read_text(errors="replace")[-4000:] if log_file and log_file.exists() else ""
            raise SystemExit(f"[{LABEL[0]}] {what} exited while starting\n{tail}")
        time.sleep(0.3)
    raise SystemExit(f"[{LABEL[0]}] {what} not ready after {timeout:.0f} s")


def spawn(cmd, pid_file: Path, log_file: Path, cwd=None, env=None) -> int:
    """Start a process in its own session, log to a file, record its PID."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "ab") as out:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    pid_file.write_text(str(proc.pid))
    return proc.pid


def stop(pid_file: Path, what: str, timeout: float = 30) -> None:
    pid = pid_alive(pid_file)
    if pid:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while pid_alive(pid_file) and time.monotonic() < deadline:
            time.sleep(0.2)
        if pid_alive(pid_file):
            log(f"{what} (pid {pid}) did not stop in {timeout:.0f} s: killing it")
            os.kill(pid, signal.SIGKILL)
            time.sleep(0.5)
        log(f"stopped {what} (pid {pid})")
    pid_file.unlink(missing_ok=True)


# -- MariaDB and Redis --------------------------------------------------------------------------------------------


def ensure_packages() -> None:
    needed = {"mariadbd": "mariadb-server", "mariadb-install-db": "mariadb-server", "mariadb": "mariadb-client", "redis-server": "redis-server", "pkg-config": "pkg-config"}
    missing = [cmd for cmd in needed if not (shutil.which(cmd) or Path("/usr/sbin", cmd).exists())]
    if not Path("/usr/include/mariadb/mysql.h").exists():
        missing.append("libmariadb-dev")
    if missing:
        with step("apt install"):
            log(f"missing {', '.join(missing)}: apt-get install {' '.join(APT_PACKAGES)}")
            env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
            run(["apt-get", "update"], env=env)
            run(["apt-get", "install", "-y", "--no-install-recommends", *APT_PACKAGES], env=env)


def mariadbd() -> str:
    return shutil.which("mariadbd") or "/usr/sbin/mariadbd"


def db_dir() -> Path:
    return WORK / "mariadb"


def db(sql: str, database: str = None, check: bool = True):
    cmd = ["mariadb", "--protocol=socket", f"--socket={db_dir() / 'mysqld.sock'}", "-uroot", f"-p{DB_ROOT_PASSWORD}", "-N", "-B", "-e", sql]
    if database:
        cmd.insert(1, f"--database={database}")
    return run(cmd, check=check)


def start_mariadb() -> None:
    d = db_dir()
    pid_file = d / "mariadbd.pid.ours"
    if pid_alive(pid_file):
        return
    if port_open(DB_PORT):
        raise SystemExit(f"[{LABEL[0]}] port {DB_PORT} is taken by another process: set REAL_FRAPPE_DB_PORT")
    d.mkdir(parents=True, exist_ok=True)
    cnf = d / "my.cnf"
    cnf.write_text(
        "\n".join(
            [
                "[mysqld]",
                f"datadir={d / 'data'}",
                f"socket={d / 'mysqld.sock'}",
                f"pid-file={d / 'mariadbd.pid'}",
                f"port={DB_PORT}",
                "bind-address=127.0.0.1",
                "user=root",
                "character-set-server=utf8mb4",
                "collation-server=utf8mb4_unicode_ci",
                "skip-log-bin",
                "innodb_buffer_pool_size=256M",
                "innodb_flush_log_at_trx_commit=2",
                "innodb_doublewrite=0",
                "max_connections=200",
                f"log-error={d / 'error.log'}",
                "[client]",
                "default-character-set=utf8mb4",
                "",
            ]
        )
    )
    fresh = not (d / "data" / "mysql").exists()
    if fresh:
        with step("mariadb-install-db"):
            run(["mariadb-install-db", f"--defaults-file={cnf}", "--auth-root-authentication-method=normal", "--skip-test-db"])
    with step("mariadbd start"):
        spawn([mariadbd(), f"--defaults-file={cnf}"], pid_file, d / "mariadbd.out")
        wait_for("mariadbd", lambda: port_open(DB_PORT) and (d / "mysqld.sock").exists(), 60, pid_file, d / "error.log")
    if fresh:
        # Anonymous users shadow the site's database user over TCP ("Access denied for user '_…'@'localhost'").
        sql = (
            "DELETE FROM mysql.global_priv WHERE User='';"
            f"ALTER USER 'root'@'localhost' IDENTIFIED BY '{DB_ROOT_PASSWORD}';"
            f"CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY '{DB_ROOT_PASSWORD}';"
            "GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;"
            f"CREATE USER IF NOT EXISTS 'root'@'%' IDENTIFIED BY '{DB_ROOT_PASSWORD}';"
            "GRANT ALL PRIVILEGES ON *.* TO 'root'@'%' WITH GRANT OPTION;"
            "FLUSH PRIVILEGES;"
        )
        run(["mariadb", "--protocol=socket", f"--socket={d / 'mysqld.sock'}", "-uroot", "-e", sql])


def start_redis() -> None:
    d = WORK / "redis"
    pid_file = d / "redis.pid.ours"
    if pid_alive(pid_file):
        return
    if port_open(REDIS_PORT):
        raise SystemExit(f"[{LABEL[0]}] port {REDIS_PORT} is taken by another process: set REAL_FRAPPE_REDIS_PORT")
    d.mkdir(parents=True, exist_ok=True)
    with step("redis start"):
        cmd = ["redis-server", "--port", str(REDIS_PORT), "--bind", "127.0.0.1", "--dir", str(d), "--save", "", "--appendonly", "no", "--daemonize", "no"]
        spawn(cmd, pid_file, d / "redis.log")
        wait_for("redis-server", lambda: port_open(REDIS_PORT), 30, pid_file, d / "redis.log")




def start_gunicorn(bench: Path, port: int, what: str) -> str:
    """gunicorn exactly as bench's supervisor template and frappe_docker run it (worker count as on a 2-core machine):
    no raised limits, so gunicorn's 4,094-byte request line applies."""
    base_url = f"http://127.0.0.1:{port}"
    pid_file = gunicorn_pid_file(bench)
    if pid_alive(pid_file):
        return base_url
    if port_open(port):
        raise SystemExit(f"[{LABEL[0]}] port {port} is taken by another process")
    with step("gunicorn start"):
        cmd = [str(bench / "env" / "bin" / "gunicorn"), "-b", f"127.0.0.1:{port}", "-w", "2", "-t", "120", "frappe.app:application", "--preload"]
        spawn(cmd, pid_file, bench / "logs" / "gunicorn.log", cwd=bench / "sites", env={**os.environ, "PYTHONUNBUFFERED": "1"})

        def ready() -> bool:
            try:
                with urllib.request.urlopen(base_url + "/api/method/ping", timeout=5) as answer:
                    return answer.status == 200
            except OSError:
                return False

        wait_for(what, ready, 120, pid_file, bench / "logs" / "gunicorn.log")
    return base_url


def gunicorn_pid_file(bench: Path) -> Path:
    return bench / "config" / "pids" / "gunicorn.pid.ours"


def stop_servers() -> None:
    """Every gunicorn of every bench under .real-frappe/, then Redis and MariaDB."""
    for pid_file in sorted(WORK.glob("*/config/pids/gunicorn.pid.ours")):
        stop(pid_file, f"gunicorn {pid_file.parents[2].name}")
    stop(WORK / "redis" / "redis.pid.ours", "redis-server")
    stop(db_dir() / "mariadbd.pid.ours", "mariadbd", timeout=60)


def server_status() -> None:
    files = {f"gunicorn {p.parents[2].name}": p for p in sorted(WORK.glob("*/config/pids/gunicorn.pid.ours"))}
    files.update({"redis-server": WORK / "redis" / "redis.pid.ours", "mariadbd": db_dir() / "mariadbd.pid.ours"})
    for what, pid_file in files.items():
        pid = pid_alive(pid_file)
        print(f"{what}: {'running, pid %d' % pid if pid else 'stopped'}")


def record_timings(bench: Path) -> None:
    timings_file = bench / "timings.json"
    previous = json.loads(timings_file.read_text()) if timings_file.exists() else []
    timings_file.write_text(json.dumps(previous + [{"at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **TIMINGS}], indent=1))
    log("timings: " + ", ".join(f"{k} {v} s" for k, v in TIMINGS.items()))
