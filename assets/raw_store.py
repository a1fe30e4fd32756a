"""Verbatim, content-addressed storage of every API response, kept before parsing.

Bodies are gzip files named by the sha256 of the uncompressed body, written to a
temporary name and renamed, so a crash never leaves a half-written file. A JSON
lines manifest records each new body's request (never the key) in arrival
order; `tokentide rebuild` replays it to re-derive the warehouse with no network.
"""

import datetime as dt
import gzip
import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class StoredPull:
    """A response as kept on disk: what was asked, what came back, where it lies."""

    sha256: str
    endpoint: str
    params: dict[str, str]
    status: int
    fetched_at: str  # ISO-8601 UTC
    path: str  # relative to the raw directory
    byte_count: int

    @property
    def fetched_at_dt(self) -> dt.datetime:
        return dt.datetime.fromisoformat(self.fetched_at)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class RawStore:
    """The `data/raw/` directory: bodies under `<sha[:2]>/<sha>.json.gz` plus `manifest.jsonl`."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.manifest_path = self.root / "manifest.jsonl"

    def put(self, *, endpoint: str, params: dict[str, str], status: int, body: bytes,
            fetched_at: dt.datetime) -> StoredPull:
        """Keep `body` verbatim (once per content) and append its request to the manifest."""
        sha = hashlib.sha256(body).hexdigest()
        rel = f"{sha[:2]}/{sha}.json.gz"
        target = self.root / rel
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=target.parent, prefix=".tmp-", delete=False) as tmp:
                # mtime=0 keeps the compressed bytes a pure function of the body; level 6 (zlib's
                # default, not GzipFile's 9) is 3x faster for 4 % more bytes
                with gzip.GzipFile(fileobj=tmp, mode="wb", mtime=0, compresslevel=6) as gz:
                    gz.write(body)
                tmp.flush()
                os.fsync(tmp.fileno())
            os.replace(tmp.name, target)
            _fsync_dir(target.parent)
        known = self._known()
        if sha in known:
            # the first arrival is the pull of record: its time orders versions on rebuild
            return known[sha]
        stored = StoredPull(
            sha256=sha, endpoint=endpoint, params=dict(sorted(params.items())), status=status,
            fetched_at=fetched_at.astimezone(dt.UTC).isoformat(), path=rel, byte_count=len(body),
        )
        self._append(stored)
        return stored

    def mark_origin(self, origin: str) -> None:
        """Record once whether these bodies are live or synthetic (rebuild restores it)."""
        path = self.root / "origin"
        if not path.exists():
            self.root.mkdir(parents=True, exist_ok=True)
            path.write_text(origin + "\n")

    def origin(self) -> str:
        path = self.root / "origin"
        return path.read_text().strip() if path.exists() else "live"

    def write_run(self, run_id: str, pulls: list[StoredPull]) -> None:
        """The pulls a Dagster run fetched, for the run's landing step."""
        path = self.root / "runs" / f"{run_id}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps([p.sha256 for p in pulls]))
        os.replace(tmp, path)

    def read_run(self, run_id: str) -> list[StoredPull]:
        known = self._known()
        return [known[sha] for sha in json.loads((self.root / "runs" / f"{run_id}.json").read_text())]

    def record_landed(self, pull_ids: list[str]) -> None:
        """Append, after a run published, the pulls it landed: the replay order for rebuild."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / "landed.jsonl", "a") as f:
            f.write(json.dumps({"landed": pull_ids}) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def landed(self) -> list[StoredPull]:
        """The landed pulls in landing order (each once); a torn last line is ignored."""
        path = self.root / "landed.jsonl"
        by_sha = self._known()
        seen, order = set(), []
        if path.exists():
            for line in path.read_text().splitlines():
                try:
                    ids = json.loads(line)["landed"]
                except (json.JSONDecodeError, KeyError, TypeError):
                    continue
                for sha in ids:
                    if sha not in seen and sha in by_sha:
                        seen.add(sha)
                        order.append(by_sha[sha])
        return order

    def read(self, stored: StoredPull) -> bytes:
        with gzip.open(self.root / stored.path, "rb") as f:
            return f.read()

    def absolute(self, stored: StoredPull) -> Path:
        return self.root / stored.path

    def manifest(self) -> list[StoredPull]:
        """Every kept response in arrival order (a torn last line from a crash is ignored)."""
        if not self.manifest_path.exists():
            return []
        entries = []
        for line in self.manifest_path.read_text().splitlines():
            try:
                entries.append(StoredPull(**json.loads(line)))
            except (json.JSONDecodeError, TypeError):
                continue
        return entries

    def _known(self) -> dict[str, StoredPull]:
        return {entry.sha256: entry for entry in self.manifest()}

    def _append(self, stored: StoredPull) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        line = json.dumps(asdict(stored), sort_keys=True) + "\n"
        with open(self.manifest_path, "a") as f:
            if f.tell() and not self._ends_with_newline():
                f.write("\n")  # seal a line torn by an earlier crash
            f.write(line)
            f.flush()
            os.fsync(f.fileno())

    def _ends_with_newline(self) -> bool:
        with open(self.manifest_path, "rb") as f:
            f.seek(-1, os.SEEK_END)
            return f.read(1) == b"\n"
