"""The committed generated code matches proto/quorra.proto, and GoQuorra's fields are intact."""

from __future__ import annotations

import importlib.util
import pathlib

import pytest

from quorra.rpc.proto import quorra_pb2 as pb

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_generated_code_is_fresh(tmp_path: pathlib.Path) -> None:
    spec = importlib.util.spec_from_file_location("generate", ROOT / "proto" / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    committed = ROOT / "quorra" / "rpc" / "proto"
    for fresh in module.generate(tmp_path):
        assert fresh.read_text() == (committed / fresh.name).read_text(), (
            f"{fresh.name} is stale: run `make proto` and commit the result")


ORIGINAL = {
    "Job": {"id": 1, "type": 2, "payload": 3, "priority": 4, "attempts": 5, "max_retries": 6,
            "run_at": 7, "leased_at": 8, "created_at": 9, "queue": 10, "lease_id": 11},
    "LeaseRequest": {"worker_id": 1, "queue": 2, "max_jobs": 3, "lease_ttl_seconds": 4},
    "JobAck": {"job_id": 1, "worker_id": 2, "lease_id": 3, "success": 4, "error_message": 5},
    "JobAckResponse": {"acknowledged": 1, "message": 2},
}


@pytest.mark.parametrize("message", sorted(ORIGINAL))
def test_goquorra_field_numbers_are_kept(message: str) -> None:
    fields = {f.name: f.number for f in pb.DESCRIPTOR.message_types_by_name[message].fields}
    assert ORIGINAL[message].items() <= fields.items()


def test_goquorra_service_shape() -> None:
    service = pb.DESCRIPTOR.services_by_name["WorkerService"]
    assert service.full_name == "quorra.WorkerService"
    methods = {m.name: (m.input_type.name, m.output_type.name, m.server_streaming)
               for m in service.methods}
    assert methods["LeaseJobs"] == ("LeaseRequest", "Job", True)
    assert methods["AckJob"] == ("JobAck", "JobAckResponse", False)
    assert methods["NackJob"] == ("JobAck", "JobAckResponse", False)
