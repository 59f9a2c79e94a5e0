"""A Hugging Face Hub stand-in for the tests: a threaded `http.server` on 127.0.0.1 keeping model repos in a folder.

It implements the routes the real `huggingface_hub` client (2.x) uses to create a model repo, validate a card, commit
files and download them:

- `GET /api/whoami-v2`, `POST /api/repos/create`, `POST /api/validate-yaml`,
- `POST /api/models/{id}/preupload/{rev}` (every file is uploaded "regular", inline in the commit: no LFS, no Xet),
- `POST /api/models/{id}/commit/{rev}` (NDJSON), `GET /api/models/{id}[/revision/{rev}]`,
  `GET /api/models/{id}/tree/{rev}[/{path}]`,
- `GET|HEAD /{id}/resolve/{rev}/{path}` (404 with `X-Error-Code: EntryNotFound` or `RepoNotFound`).

Every commit is a full snapshot folder, so a commit hash resolves to the files as they were. `validate-yaml` checks the
card's metadata the way the Hub documents it (YAML mapping, known licence, `model-index` structure), with its own
code rather than the client's parser, so a malformed card fails here as it would on the Hub.

huggingface_hub reads `HF_ENDPOINT`, `HF_TOKEN` and `HF_HOME` once, when it is first imported:
[`configure_environment`] sets them before that (`conftest.py` calls it), and [`HubStandIn`] then serves on the
reserved port.
"""

from __future__ import annotations

import atexit
import base64
import hashlib
import json
import os
import re
import shutil
import socket
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

TOKEN = "hf_standin_write_token"
USER = "user"
ENV_PORT = "HF_UNLEARN_TEST_HUB_PORT"
# Licence ids the stand-in accepts (a subset of the Hub's list; enough for the cards made here).
KNOWN_LICENSES = {"apache-2.0", "mit", "cc-by-4.0", "cc-by-sa-4.0", "cc-by-nc-4.0", "gpl-3.0", "bsd-3-clause", "other"}
REPO_ID = r"[A-Za-z0-9][\w.\-]*/[\w.\-]+"


def configure_environment() -> int:
    """Reserves a port and points huggingface_hub at it (`HF_ENDPOINT`), with a test token and a throw-away
    `HF_HOME`. Must run before `huggingface_hub` is imported; returns the port."""
    if ENV_PORT in os.environ:  # already configured (e.g. a subprocess of the test suite)
        return int(os.environ[ENV_PORT])
    with socket.socket() as probe:  # the port is free now; the server binds it when a test first needs it
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    home = tempfile.mkdtemp(prefix="hf_unlearn_tests_hf_home_")
    atexit.register(shutil.rmtree, home, ignore_errors=True)
    os.environ.update(
        {
            ENV_PORT: str(port),
            "HF_ENDPOINT": f"http://127.0.0.1:{port}",
            "HF_TOKEN": TOKEN,
            "HF_HOME": home,
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        }
    )
    return port


def configured_too_late() -> bool:
    """True when huggingface_hub was imported before [`configure_environment`] pointed it at the stand-in."""
    if "huggingface_hub" not in sys.modules:
        return False
    from huggingface_hub import constants

    return constants.ENDPOINT != os.environ.get("HF_ENDPOINT")


def git_blob_sha1(data: bytes) -> str:
    """The oid git (and the Hub) gives a regular file."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _front_matter(content: str):
    """The YAML block of a card, or None when the card has none."""
    match = re.match(r"^---\s*\n(.*?)\n---\s*(\n|$)", content, flags=re.S)
    return match.group(1) if match else None


def validate_card_metadata(content: str) -> list[str]:
    """Errors in a card's metadata, following the Hub's documented model-card metadata rules."""
    import yaml

    block = _front_matter(content)
    if block is None:
        return []
    try:
        data = yaml.safe_load(block)
    except yaml.YAMLError as error:
        return [f"YAML metadata is not valid YAML: {error}"]
    if data is None:
        return []
    if not isinstance(data, dict):
        return ["YAML metadata must be a mapping"]
    errors = []
    license = data.get("license")
    if license is not None and license not in KNOWN_LICENSES:
        errors.append(f'"license" must be one of the Hub licence ids, got {license!r}')
    for key in ("tags", "datasets"):
        value = data.get(key)
        if value is not None and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            errors.append(f'"{key}" must be a list of strings')
    base = data.get("base_model")
    if base is not None:
        bases = base if isinstance(base, list) else [base]
        if not all(isinstance(b, str) and re.fullmatch(REPO_ID, b) for b in bases):
            errors.append(f'"base_model" must be a Hub model id (namespace/name), got {base!r}')
    for key in ("library_name", "pipeline_tag"):
        if key in data and not isinstance(data[key], str):
            errors.append(f'"{key}" must be a string')
    index = data.get("model-index")
    if index is not None:
        errors.extend(_model_index_errors(index))
    return errors


def _model_index_errors(index) -> list[str]:
    if not isinstance(index, list) or not index:
        return ['"model-index" must be a non-empty list']
    errors = []
    for model in index:
        if not isinstance(model, dict) or not isinstance(model.get("name"), str):
            errors.append('"model-index[].name" is required')
            continue
        for result in model.get("results") or []:
            task, dataset = result.get("task"), result.get("dataset")
            if not isinstance(task, dict) or not isinstance(task.get("type"), str):
                errors.append('"model-index[].results[].task.type" is required')
            if not isinstance(dataset, dict) or not all(isinstance(dataset.get(k), str) for k in ("type", "name")):
                errors.append('"model-index[].results[].dataset" needs "type" and "name"')
            metrics = result.get("metrics")
            if not isinstance(metrics, list) or not metrics:
                errors.append('"model-index[].results[].metrics" must be a non-empty list')
                continue
            for metric in metrics:
                if not isinstance(metric.get("type"), str):
                    errors.append('"metrics[].type" is required')
                value = metric.get("value")
                if isinstance(value, bool) or not isinstance(value, (int, float, str)):
                    errors.append(f'"metrics[].value" must be a number or a string, got {value!r}')
    return errors


class _Store:
    """Repos as snapshot folders: `root/<namespace>/<name>/<commit>/...`, plus a head pointer per repo."""

    def __init__(self, root: str):
        self.root = root
        self.heads: dict[str, list[str]] = {}  # repo id -> commit hashes, oldest first
        self.lock = threading.Lock()

    def folder(self, repo_id: str, commit: str) -> str:
        return os.path.join(self.root, repo_id, commit)

    def resolve(self, repo_id: str, revision: str) -> str | None:
        commits = self.heads.get(repo_id)
        if not commits:
            return None
        if revision == "main":
            return commits[-1]
        return revision if revision in commits else None

    def files(self, repo_id: str, commit: str) -> list[str]:
        base = self.folder(repo_id, commit)
        found = []
        for directory, _, names in os.walk(base):
            for name in names:
                found.append(os.path.relpath(os.path.join(directory, name), base).replace(os.sep, "/"))
        return sorted(found)

    def commit(self, repo_id: str, operations: list[tuple[str, str, bytes | None]]) -> str:
        """Applies `(kind, path, content)` operations on the head and returns the new commit hash."""
        with self.lock:
            commits = self.heads.setdefault(repo_id, [])
            commit = hashlib.sha1(f"{repo_id}/{len(commits)}/{time.time_ns()}".encode()).hexdigest()
            target = self.folder(repo_id, commit)
            if commits:
                shutil.copytree(self.folder(repo_id, commits[-1]), target)
            else:
                os.makedirs(target)
            for kind, path, content in operations:
                full = os.path.join(target, *path.split("/"))
                if kind == "file":
                    os.makedirs(os.path.dirname(full), exist_ok=True)
                    with open(full, "wb") as handle:
                        handle.write(content)
                elif kind == "deletedFile" and os.path.isfile(full):
                    os.remove(full)
                elif kind == "deletedFolder" and os.path.isdir(full):
                    shutil.rmtree(full)
            commits.append(commit)
            return commit


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "_Server"

    def log_message(self, format, *args):  # quiet; requests are recorded in `server.requests`
        pass

    # ------------------------------------------------------------------------------------------- replies
    def _send(self, status: int, body: bytes = b"", content_type: str = "application/json", headers=None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, payload, headers=None) -> None:
        self._send(status, json.dumps(payload).encode(), headers=headers)

    def _error(self, status: int, message: str, code: str | None = None) -> None:
        headers = {"X-Error-Code": code, "X-Error-Message": message} if code else None
        self._json(status, {"error": message}, headers=headers)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _authorized(self) -> bool:
        if self.headers.get("Authorization") == f"Bearer {TOKEN}":
            return True
        self._error(401, "Invalid credentials in Authorization header")
        return False

    # ------------------------------------------------------------------------------------------- routes
    def do_HEAD(self):
        self._route("HEAD")

    def do_GET(self):
        self._route("GET")

    def do_POST(self):
        self._route("POST")

    def _route(self, method: str) -> None:
        url = urlsplit(self.path)
        path, query = unquote(url.path), parse_qs(url.query)
        self.server.requests.append((method, path))
        store = self.server.store
        try:
            if method == "GET" and path == "/api/whoami-v2":
                if self._authorized():
                    self._json(
                        200,
                        {
                            "type": "user",
                            "name": USER,
                            "fullname": "Test User",
                            "orgs": [],
                            "auth": {"type": "access_token", "accessToken": {"role": "write"}},
                        },
                    )
                return
            if method == "POST" and path == "/api/repos/create":
                return self._create_repo()
            if method == "POST" and path == "/api/validate-yaml":
                payload = json.loads(self._body() or b"{}")
                errors = validate_card_metadata(payload.get("content", ""))
                status = 400 if errors else 200
                return self._json(status, {"errors": [{"message": e} for e in errors], "warnings": []})
            match = re.fullmatch(rf"/api/models/({REPO_ID})/(preupload|commit)/([^/]+)", path)
            if method == "POST" and match:
                repo_id, action, revision = match.groups()
                if not self._authorized():
                    return
                if store.resolve(repo_id, revision) is None:
                    return self._error(404, f"Repository {repo_id} not found", "RepoNotFound")
                return self._preupload(repo_id, revision) if action == "preupload" else self._commit(repo_id)
            match = re.fullmatch(rf"/api/models/({REPO_ID})(?:/revision/([^/]+))?", path)
            if method == "GET" and match:
                return self._model_info(match.group(1), match.group(2) or "main")
            match = re.fullmatch(rf"/api/models/({REPO_ID})/tree/([^/]+)(?:/(.*))?", path)
            if method == "GET" and match:
                recursive = query.get("recursive", ["false"])[0].lower() in ("1", "true")
                return self._tree(match.group(1), match.group(2), match.group(3) or "", recursive)
            match = re.fullmatch(rf"/({REPO_ID})/resolve/([^/]+)/(.+)", path)
            if method in ("GET", "HEAD") and match:
                return self._resolve(*match.groups())
            self.server.unhandled.append((method, self.path))
            self._error(404, f"The Hub stand-in does not implement {method} {url.path}")
        except Exception as error:  # a bug in the stand-in must show up in the test, not hang the client
            self.server.unhandled.append((method, f"{self.path}: {error!r}"))
            self._error(500, f"stand-in error: {error!r}")

    def _create_repo(self) -> None:
        if not self._authorized():
            return
        payload = json.loads(self._body() or b"{}")
        if payload.get("type", "model") != "model":
            return self._error(400, "The stand-in only hosts model repos")
        repo_id = f"{payload.get('organization') or USER}/{payload['name']}"
        url = f"{self.server.endpoint}/{repo_id}"
        store = self.server.store
        with store.lock:
            exists = repo_id in store.heads
        if exists:
            return self._json(409, {"error": "You already created this model repo", "url": url})
        store.commit(repo_id, [("file", ".gitattributes", b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n")])
        self._json(200, {"url": url, "name": repo_id, "id": repo_id})

    def _preupload(self, repo_id: str, revision: str) -> None:
        payload = json.loads(self._body() or b"{}")
        store = self.server.store
        commit = store.resolve(repo_id, revision)
        files = []
        for entry in payload.get("files", []):
            existing = os.path.join(store.folder(repo_id, commit), *entry["path"].split("/"))
            oid = None
            if os.path.isfile(existing):
                with open(existing, "rb") as handle:
                    oid = git_blob_sha1(handle.read())
            files.append({"path": entry["path"], "uploadMode": "regular", "shouldIgnore": False, "oid": oid})
        self._json(200, {"files": files, "commitOid": commit})

    def _commit(self, repo_id: str) -> None:
        operations = []
        for line in self._body().splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            key, value = item["key"], item["value"]
            if key == "header":
                continue
            if key == "file":
                if value.get("encoding") != "base64":
                    return self._error(400, f"Unsupported encoding {value.get('encoding')!r}")
                operations.append(("file", value["path"], base64.b64decode(value["content"])))
            elif key in ("deletedFile", "deletedFolder"):
                operations.append((key, value["path"].rstrip("/"), None))
            else:  # lfsFile / copies: preupload never asks for LFS, so the client must not send them
                return self._error(400, f"The stand-in does not accept {key!r} operations")
        commit = self.server.store.commit(repo_id, operations)
        self._json(
            200,
            {"success": True, "commitOid": commit, "commitUrl": f"{self.server.endpoint}/{repo_id}/commit/{commit}"},
        )

    def _model_info(self, repo_id: str, revision: str) -> None:
        store = self.server.store
        commit = store.resolve(repo_id, revision)
        if commit is None:
            return self._error(404, f"Repository {repo_id} not found", "RepoNotFound")
        files = store.files(repo_id, commit)
        self._json(
            200,
            {
                "id": repo_id,
                "modelId": repo_id,
                "author": repo_id.split("/")[0],
                "sha": commit,
                "private": False,
                "disabled": False,
                "gated": False,
                "tags": [],
                "siblings": [{"rfilename": name} for name in files],
            },
        )

    def _tree(self, repo_id: str, revision: str, prefix: str, recursive: bool) -> None:
        store = self.server.store
        commit = store.resolve(repo_id, revision)
        if commit is None:
            return self._error(404, f"Repository {repo_id} not found", "RepoNotFound")
        prefix = prefix.strip("/")
        entries, folders = [], set()
        for name in store.files(repo_id, commit):
            if prefix and not name.startswith(prefix + "/"):
                continue
            rest = name[len(prefix) + 1 :] if prefix else name
            if not recursive and "/" in rest:
                folders.add((prefix + "/" if prefix else "") + rest.split("/")[0])
                continue
            with open(os.path.join(store.folder(repo_id, commit), *name.split("/")), "rb") as handle:
                data = handle.read()
            entries.append({"type": "file", "oid": git_blob_sha1(data), "size": len(data), "path": name})
        entries += [{"type": "directory", "oid": "0" * 40, "size": 0, "path": f} for f in sorted(folders)]
        self._json(200, entries)

    def _resolve(self, repo_id: str, revision: str, filename: str) -> None:
        store = self.server.store
        commit = store.resolve(repo_id, revision)
        if repo_id not in store.heads:
            return self._error(404, f"Repository {repo_id} not found", "RepoNotFound")
        if commit is None:
            return self._error(404, f"Revision {revision} not found", "RevisionNotFound")
        full = os.path.join(store.folder(repo_id, commit), *filename.split("/"))
        if not os.path.isfile(full):
            return self._error(404, f"Entry {filename} not found", "EntryNotFound")
        with open(full, "rb") as handle:
            data = handle.read()
        self._send(
            200,
            data,
            content_type="application/octet-stream",
            headers={"ETag": f'"{git_blob_sha1(data)}"', "X-Repo-Commit": commit},
        )


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class HubStandIn:
    """The stand-in, serving `root` on `127.0.0.1:port` from a background thread.

    Attributes:
        endpoint (`str`): its URL (what `HF_ENDPOINT` must be).
        requests (`list[tuple[str, str]]`): every (method, path) served.
        unhandled (`list[tuple[str, str]]`): requests it could not serve (a test should expect none).
    """

    def __init__(self, root: str, port: int = 0):
        self.server = _Server(("127.0.0.1", port), _Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.server.endpoint = self.endpoint
        self.server.store = _Store(root)
        self.server.requests = []
        self.server.unhandled = []
        self.thread = threading.Thread(target=self.server.serve_forever, name="hub-stand-in", daemon=True)

    @property
    def requests(self) -> list:
        return self.server.requests

    @property
    def unhandled(self) -> list:
        return self.server.unhandled

    def repo_files(self, repo_id: str) -> list[str]:
        """Files at the head of `repo_id`."""
        store = self.server.store
        return store.files(repo_id, store.resolve(repo_id, "main"))

    def read(self, repo_id: str, filename: str) -> bytes:
        store = self.server.store
        with open(os.path.join(store.folder(repo_id, store.resolve(repo_id, "main")), filename), "rb") as handle:
            return handle.read()

    def start(self) -> "HubStandIn":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
