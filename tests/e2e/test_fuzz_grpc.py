"""Every RPC of the worker protocol, fuzzed over every field of its messages (strategies derived
from the proto descriptors) against a real ``quorra-server`` process: never ``INTERNAL`` or
``UNKNOWN``, never a crash, and a refused message changes nothing. Fixed seed, CI budget."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import httpx
import pytest
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quorra.rpc.proto import quorra_pb2 as pb
from quorra.rpc.proto import quorra_pb2_grpc as pb_grpc
from tests.e2e.conftest import API_KEY
from tests.e2e.process import ServerProcess, start_server

EXAMPLES = 60  # per RPC
KEY = (("x-api-key", API_KEY),)
BROKEN = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.UNAVAILABLE,
          grpc.StatusCode.DEADLINE_EXCEEDED}
FUZZ = settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                suppress_health_check=list(HealthCheck))

_F = FieldDescriptor
_INTS = {_F.TYPE_INT32: 31, _F.TYPE_SINT32: 31, _F.TYPE_SFIXED32: 31, _F.TYPE_INT64: 63,
         _F.TYPE_SINT64: 63, _F.TYPE_SFIXED64: 63}
_UINTS = {_F.TYPE_UINT32: 32, _F.TYPE_FIXED32: 32, _F.TYPE_UINT64: 64, _F.TYPE_FIXED64: 64}
_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
                     lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=8)
_AWKWARD_BYTES = [b"", b"{}", b"[]", b"null", b'{"a": "\\u0000"}', b"[" * 2000 + b"]" * 2000,
                  b'{"a": NaN}', b"\xff\xfe", b'"' + b"x" * 5000 + b'"']
_AWKWARD_TEXT = ["", "default", "\x00", "a b", "q" * 300, "\u2603", "\ud800".encode(
    "utf-8", "surrogatepass").decode("utf-8", "replace"), "00000000-0000-0000-0000-000000000000"]


def _scalar(field: FieldDescriptor) -> st.SearchStrategy[Any]:
    kind = field.type
    if kind in _INTS:
        bits = _INTS[kind]
        return st.integers(-(2**bits), 2**bits - 1) | st.sampled_from([0, 1, -1, 10**6])
    if kind in _UINTS:
        return st.integers(0, 2 ** _UINTS[kind] - 1)
    if kind in (_F.TYPE_DOUBLE, _F.TYPE_FLOAT):
        return st.floats(width=64 if kind == _F.TYPE_DOUBLE else 32)
    if kind == _F.TYPE_BOOL:
        return st.booleans()
    if kind == _F.TYPE_ENUM:
        assert field.enum_type is not None  # an enum field names its enum
        return st.sampled_from([v.number for v in field.enum_type.values])
    if kind == _F.TYPE_BYTES:
        return (st.binary(max_size=64) | st.sampled_from(_AWKWARD_BYTES)
                | _JSON.map(lambda v: repr(v).encode()))
    return st.text(max_size=40) | st.sampled_from(_AWKWARD_TEXT) | st.uuids().map(str)


def _field(field: FieldDescriptor, depth: int) -> st.SearchStrategy[Any]:
    if field.type != _F.TYPE_MESSAGE:
        value = _scalar(field)
    elif (kind := field.message_type) is None:
        raise AssertionError(f"{field.full_name}: a message field that names no message")
    elif kind.full_name == "google.protobuf.Timestamp":
        value = st.builds(Timestamp, seconds=st.integers(-(2**40), 2**40),
                          nanos=st.integers(0, 999_999_999))
    else:
        value = message(kind, depth + 1)
    return st.lists(value, max_size=3) if field.is_repeated else value


def message(descriptor: Descriptor, depth: int = 0, **fixed: Any) -> st.SearchStrategy[Any]:
    """Any message of this type: each field absent or any value of its type (nested: 2 deep)."""
    cls = getattr(pb, descriptor.name)
    if depth > 2:
        return st.just(cls())
    fields = {f.name: _field(f, depth) for f in descriptor.fields if f.name not in fixed}
    return st.fixed_dictionaries({k: st.just(v) for k, v in fixed.items()},
                                 optional=fields).map(lambda kw: cls(**kw))


def stored(server: ServerProcess) -> int:
    answer = httpx.get(f"{server.url}/v1/queues", headers={"X-API-Key": API_KEY}, timeout=10)
    return sum(queue["count"] for queue in answer.json()["queues"])


@pytest.fixture(scope="module")
def fuzzed(database_url: str) -> Iterator[tuple[ServerProcess, pb_grpc.WorkerServiceStub]]:
    with start_server(database_url, API_KEY, name="fuzz-grpc") as server, \
            grpc.insecure_channel(server.grpc) as channel:
        yield server, pb_grpc.WorkerServiceStub(channel)


def _accepted_or_refused(call: Any, server: ServerProcess, changes: bool = False) -> None:
    """Run ``call``; a refusal must be a proper status and leave the job count alone."""
    before = stored(server)
    refusal = _refusal(call)
    if refusal is not None:
        assert refusal[0] not in BROKEN, refusal
        assert stored(server) == before, "a refused message changed state"
    elif not changes:
        assert stored(server) == before


def _refusal(call: Any) -> tuple[grpc.StatusCode, str | None] | None:
    try:
        call()
    except grpc.RpcError as exc:
        return exc.code(), exc.details()
    return None


UNARY = [("EnqueueJobs", pb.EnqueueJobsRequest, True), ("GetJob", pb.GetJobRequest, False),
         ("AckJob", pb.JobAck, False), ("NackJob", pb.JobAck, False),
         ("ExtendLease", pb.ExtendRequest, False)]


@pytest.mark.parametrize(("rpc", "kind", "changes"), UNARY, ids=[u[0] for u in UNARY])
def test_unary_rpcs(fuzzed: tuple[ServerProcess, Any], rpc: str, kind: Any,
                    changes: bool) -> None:
    server, stub = fuzzed

    @given(request=message(kind.DESCRIPTOR))
    @FUZZ
    def fuzz(request: Message) -> None:
        _accepted_or_refused(lambda: getattr(stub, rpc)(request, metadata=KEY, timeout=10),
                             server, changes)

    fuzz()


def test_lease_jobs(fuzzed: tuple[ServerProcess, Any]) -> None:
    server, stub = fuzzed

    @given(request=message(pb.LeaseRequest.DESCRIPTOR, follow=False))
    @FUZZ
    def fuzz(request: pb.LeaseRequest) -> None:
        _accepted_or_refused(lambda: _give_back(stub, list(
            stub.LeaseJobs(request, metadata=KEY, timeout=10))), server)

    fuzz()


def _give_back(stub: Any, jobs: list[pb.Job]) -> None:
    """Release what a fuzzed request leased, so the next examples find the queue as it was."""
    for job in jobs:
        stub.NackJob(pb.JobAck(job_id=job.id, lease_id=job.lease_id, release=True),
                     metadata=KEY, timeout=10)


def test_session(fuzzed: tuple[ServerProcess, Any]) -> None:
    server, stub = fuzzed
    first = message(pb.SessionRequest.DESCRIPTOR)
    later = st.lists(message(pb.SessionRequest.DESCRIPTOR), max_size=3)

    @given(opening=first, rest=later)
    @FUZZ
    def fuzz(opening: pb.SessionRequest, rest: list[pb.SessionRequest]) -> None:
        requests = [opening, *rest, pb.SessionRequest(drain=True)]
        _accepted_or_refused(lambda: list(stub.Session(iter(requests), metadata=KEY,
                                                       timeout=15)), server)

    fuzz()
