"""A real Orthanc with its DICOMweb plugin, started on loopback from a config in a temp folder.

Used by the DICOMweb ingest tests and by tests/benchmarks/bench_ingest.py. Debian packages
`orthanc` and `orthanc-dicomweb` (scripts/test installs them).
"""
from __future__ import annotations

import json
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import requests

ORTHANC = Path("/usr/sbin/Orthanc")
DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class OrthancServer:
    def __init__(self, users: dict[str, str] | None = None) -> None:
        if not ORTHANC.exists() or not DICOMWEB_PLUGIN.exists():
            raise RuntimeError("Orthanc is not installed: apt-get install -y orthanc orthanc-dicomweb "
                               "(scripts/test does this)")
        self.folder = Path(tempfile.mkdtemp(prefix="orthanc-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.dicomweb_url = f"{self.url}/dicom-web"
        self.process: subprocess.Popen | None = None
        self.users = users or {}  # HTTP basic auth, when given

    def start(self) -> OrthancServer:
        config = {
            "Name": "cardiocrowd-test-pacs",
            "HttpPort": self.port,
            "StorageDirectory": str(self.folder / "storage"),
            "IndexDirectory": str(self.folder / "index"),
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": bool(self.users),
            "RegisteredUsers": self.users,
            "DicomServerEnabled": False,
            "Plugins": [str(DICOMWEB_PLUGIN)],
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
        }
        (self.folder / "orthanc.json").write_text(json.dumps(config))
        log = open(self.folder / "orthanc.log", "wb")
        self.process = subprocess.Popen([str(ORTHANC), str(self.folder / "orthanc.json")], stdout=log, stderr=log)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.url}/system", timeout=1, auth=self._auth()).ok:
                    return self
            except requests.ConnectionError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"Orthanc did not start: {(self.folder / 'orthanc.log').read_text()[-2000:]}")

    def upload(self, *paths: Path) -> list[str]:
        """POST each Part-10 file to /instances; returns Orthanc's instance ids."""
        ids = []
        with requests.Session() as session:
            for path in paths:
                response = session.post(f"{self.url}/instances", data=Path(path).read_bytes(), timeout=30,
                                        auth=self._auth())
                response.raise_for_status()
                ids.append(response.json()["ID"])
        return ids

    def _auth(self) -> tuple[str, str] | None:
        return next(iter(self.users.items()), None)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None
        shutil.rmtree(self.folder, ignore_errors=True)
