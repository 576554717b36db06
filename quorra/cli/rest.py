"""The REST client behind ``quorractl``: one method per route, errors as ``ApiError``.

Everything ``quorractl`` knows about a server comes through here, over HTTP; it imports no
server module (an import-linter contract keeps it so)."""

from __future__ import annotations

import ssl
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

import httpx

from quorra.core.keys import auth_metadata

__all__ = ["ApiError", "RestClient"]

Json = dict[str, Any]


class ApiError(Exception):
    """The server answered with an error, or could not be reached (``status`` is then None)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def _error_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        text = body["error"]
    else:
        text = response.text.strip()[:200] or response.reason_phrase
    return f"{text} (HTTP {response.status_code})"


def _job_path(job_id: str) -> str:
    return f"/v1/jobs/{quote(job_id, safe='')}"


class RestClient:
    """A small synchronous client of Quorra's REST API v1."""

    def __init__(self, server: str, api_key: str, *, timeout: float = 10.0,
                 transport: httpx.BaseTransport | None = None,
                 ca_cert: str | None = None) -> None:
        self.server = server.rstrip("/")
        headers = {**dict(auth_metadata(api_key)), "User-Agent": "quorractl"}
        verify = ssl.create_default_context(cafile=ca_cert) if ca_cert else True
        self._http = httpx.Client(base_url=self.server, headers=headers, timeout=timeout,
                                  transport=transport, verify=verify)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RestClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def request(self, method: str, path: str, *, body: Any = None,
                params: Mapping[str, str | int] | None = None) -> Any:
        """Send one request; return the decoded JSON body (None for an empty answer)."""
        try:
            response = self._http.request(method, path, json=body, params=params)
        except httpx.TimeoutException:
            raise ApiError(f"timed out waiting for {self.server}") from None
        except httpx.HTTPError as exc:
            raise ApiError(f"cannot reach {self.server}: {exc}") from None
        if response.status_code >= 400:
            raise ApiError(_error_message(response), response.status_code)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise ApiError(f"unexpected answer from {self.server}: not JSON") from None

    def create(self, job: Json) -> Json:
        result: Json = self.request("POST", "/v1/jobs", body=job)
        return result

    def create_batch(self, jobs: Sequence[Json]) -> list[Json]:
        answer = self.request("POST", "/v1/jobs/batch", body={"jobs": list(jobs)})
        result: list[Json] = answer["jobs"]
        return result

    def get(self, job_id: str) -> Json:
        result: Json = self.request("GET", _job_path(job_id))
        return result

    def list_jobs(self, *, queue: str | None = None, status: str | None = None,
                  type_: str | None = None, limit: int | None = None,
                  cursor: str | None = None, payload: str | None = None,
                  id_prefix: str | None = None) -> Json:
        given = {"queue": queue, "status": status, "type": type_, "limit": limit,
                 "cursor": cursor, "payload": payload, "id_prefix": id_prefix}
        params = {key: value for key, value in given.items() if value is not None}
        result: Json = self.request("GET", "/v1/jobs", params=params)
        return result

    def retry(self, job_id: str) -> Json:
        result: Json = self.request("POST", f"{_job_path(job_id)}/retry")
        return result

    def delete(self, job_id: str) -> None:
        self.request("DELETE", _job_path(job_id))

    def cancel(self, job_id: str) -> Json:
        result: Json = self.request("POST", f"{_job_path(job_id)}/cancel")
        return result

    def cancel_many(self, queue: str | None, type_: str | None) -> int:
        body = {key: value for key, value in (("queue", queue), ("type", type_)) if value}
        cancelled: int = self.request("POST", "/v1/jobs/cancel", body=body)["cancelled"]
        return cancelled

    def retry_dead(self, queue: str) -> int:
        path = f"/v1/queues/{quote(queue, safe='')}/retry-dead"
        retried: int = self.request("POST", path)["retried"]
        return retried

    def queues(self) -> list[Json]:
        result: list[Json] = self.request("GET", "/v1/queues")["queues"]
        return result

    def queue_overview(self) -> Json:
        """``{"queues": [{queue, status, count}…], "paused": [queue…]}``."""
        result: Json = self.request("GET", "/v1/queues")
        return result

    def set_paused(self, queue: str, paused: bool) -> Json:
        action = "pause" if paused else "resume"
        result: Json = self.request("POST", f"/v1/queues/{quote(queue, safe='')}/{action}")
        return result

    def limits(self, queue: str, body: Json | None = None, *, clear: bool = False) -> Json:
        """A queue's limits: read, replaced by ``body``, or removed (``clear``)."""
        path = f"/v1/queues/{quote(queue, safe='')}/limits"
        method = "DELETE" if clear else "PUT" if body is not None else "GET"
        result: Json = self.request(method, path, body=body)
        return result

    def workers(self) -> list[Json]:
        result: list[Json] = self.request("GET", "/v1/workers")["workers"]
        return result
