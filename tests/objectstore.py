"""A real S3-compatible object store on loopback: a one-node Ceph cluster (a monitor and one
in-memory OSD) with its RADOS Gateway, started from a config in a temp folder.

Ceph's gateway is the S3 service that production Ceph clusters serve, not an emulator. Debian
packages `ceph-mon`, `ceph-osd`, `radosgw` (scripts/test installs them). Used by the object-storage
tests (tests/storage) and tests/benchmarks/bench_frames.py --storage s3. Starts in about 10 s.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import requests

from .orthanc import free_port

BINARIES = ("ceph-mon", "ceph-osd", "radosgw", "radosgw-admin", "monmaptool", "ceph")
ACCESS_KEY, SECRET_KEY = "cardiocrowd-tests", "cardiocrowd-tests-secret"


class ObjectGateway:
    def __init__(self) -> None:
        missing = [name for name in BINARIES if shutil.which(name) is None]
        if missing:
            raise RuntimeError(f"Ceph is not installed ({', '.join(missing)} missing): apt-get install -y "
                               "ceph-mon ceph-osd radosgw (scripts/test does this)")
        self.folder = Path(tempfile.mkdtemp(prefix="ceph-"))
        self.mon_port, self.port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = self.folder / "ceph.conf"
        self.processes: list[subprocess.Popen] = []

    def start(self) -> ObjectGateway:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        folder, fsid, osd_uuid = self.folder, str(uuid.uuid4()), str(uuid.uuid4())
        for name in ("run", "log", "mon/mon.a", "osd/osd.0", "rgw"):
            (folder / name).mkdir(parents=True)
        self.config.write_text(CONFIG.format(fsid=fsid, folder=folder, mon_port=self.mon_port, port=self.port))
        self._run("monmaptool", "--create", "--add", "a", f"v2:127.0.0.1:{self.mon_port}", "--fsid", fsid,
                  str(folder / "monmap"))
        self._run("ceph-mon", "--mkfs", "-i", "a", "--monmap", str(folder / "monmap"))
        self._daemon("ceph-mon", "-i", "a")
        self._run("ceph", "osd", "new", osd_uuid, "0")
        self._run("ceph-osd", "-i", "0", "--mkfs", "--osd-uuid", osd_uuid)
        self._daemon("ceph-osd", "-i", "0")
        self._wait(lambda: [osd["up"] for osd in json.loads(self._run("ceph", "osd", "dump", "--format", "json"))
                            ["osds"]] == [1], 60, "the OSD coming up")
        self._daemon("radosgw", "-n", "client.rgw")
        self._wait(self._answers, 60, "the RADOS Gateway answering")
        self._run("radosgw-admin", "-n", "client.rgw", "user", "create", "--uid", "cardiocrowd-tests",
                  "--display-name", "tests", "--access-key", ACCESS_KEY, "--secret", SECRET_KEY)

    def client(self):
        import boto3
        from botocore.config import Config

        return boto3.client("s3", endpoint_url=self.url, region_name="us-east-1", aws_access_key_id=ACCESS_KEY,
                            aws_secret_access_key=SECRET_KEY, config=Config(s3={"addressing_style": "path"}))

    def new_bucket(self, prefix: str = "cardiocrowd") -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def environment(self, *, bucket: str) -> dict[str, str]:
        """The platform's variables for storing in `bucket` of this gateway (docs/operations.md)."""
        return {"CARDIOCROWD_STORAGE": "s3", "AWS_STORAGE_BUCKET_NAME": bucket, "AWS_S3_ENDPOINT_URL": self.url,
                "AWS_S3_REGION_NAME": "us-east-1", "AWS_ACCESS_KEY_ID": ACCESS_KEY,
                "AWS_SECRET_ACCESS_KEY": SECRET_KEY}

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.send_signal(signal.SIGTERM)
        for process in reversed(self.processes):
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes = []
        shutil.rmtree(self.folder, ignore_errors=True)

    def _answers(self) -> bool:
        try:
            return requests.get(self.url, timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def _run(self, *command: str) -> str:
        result = subprocess.run([command[0], "-c", str(self.config), *command[1:]], capture_output=True, text=True,
                                timeout=60, env=_environment())
        if result.returncode:
            raise RuntimeError(f"{' '.join(command)} failed: {result.stderr[-2000:]}")
        return result.stdout

    def _daemon(self, *command: str) -> None:
        log = open(self.folder / "log" / f"{command[0]}.out", "wb")
        self.processes.append(subprocess.Popen([command[0], "-c", str(self.config), "-f", *command[1:]],
                                               stdout=log, stderr=subprocess.STDOUT, env=_environment()))

    def _wait(self, condition, seconds: float, what: str) -> None:
        deadline = time.monotonic() + seconds
        while not condition():
            if any(process.poll() is not None for process in self.processes):
                raise RuntimeError(f"a Ceph daemon exited before {what}; logs in {self.folder / 'log'}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} took over {seconds} s; logs in {self.folder / 'log'}")
            time.sleep(0.2)


def _environment() -> dict[str, str]:
    # The cluster's own config file only: nothing from /etc/ceph or a CEPH_* variable of the machine.
    return {key: value for key, value in os.environ.items() if not key.startswith("CEPH_")}


# No authentication (loopback only, a cluster of the test's own), "crc" wire mode (the secure mode
# needs keys that auth "none" does not make), one replica, and an OSD that keeps objects in memory.
CONFIG = """[global]
fsid = {fsid}
mon host = v2:127.0.0.1:{mon_port}
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind ipv4 = true
ms bind ipv6 = false
ms mon client mode = crc
ms client mode = crc
auth cluster required = none
auth service required = none
auth client required = none
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
mon warn on pool no redundancy = false
mon data avail warn = 1
mon data avail crit = 0
osd objectstore = memstore
memstore device bytes = 1073741824
osd crush chooseleaf type = 0
osd max object name len = 460
osd max object namespace len = 64
run dir = {folder}/run
admin socket = {folder}/run/$name.asok
log file = {folder}/log/$name.log
mon data = {folder}/mon/$name
osd data = {folder}/osd/$name
keyring = {folder}/keyring
[client.rgw]
rgw frontends = beast endpoint=127.0.0.1:{port}
rgw data = {folder}/rgw
"""
