"""Regenerate the committed gRPC code from proto/quorra.proto (``make proto``).

``python proto/generate.py [OUT_DIR]`` writes quorra_pb2.py(i) and quorra_pb2_grpc.py(i) into
OUT_DIR (default: quorra/rpc/proto) and rewrites their imports to be package-relative. The test
suite regenerates into a temporary folder and fails when the committed files differ.
"""

from __future__ import annotations

import pathlib
import re
import sys
import tempfile

from grpc_tools import protoc  # type: ignore[import-untyped]

ROOT = pathlib.Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "proto"
DEFAULT_OUT = ROOT / "quorra" / "rpc" / "proto"
HEADER = "# Generated from proto/quorra.proto by `make proto`. Do not edit.\n"
_ABSOLUTE = re.compile(r"^import quorra_pb2\b", re.MULTILINE)


def generate(out: pathlib.Path) -> list[pathlib.Path]:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        include = str(pathlib.Path(protoc.__file__).parent / "_proto")
        bindir = pathlib.Path(sys.executable).parent
        plugins = [f"--plugin=protoc-gen-mypy={bindir / 'protoc-gen-mypy'}",
                   f"--plugin=protoc-gen-mypy_grpc={bindir / 'protoc-gen-mypy_grpc'}"]
        args = ["protoc", *plugins, f"-I{PROTO_DIR}", f"-I{include}", f"--python_out={tmp}",
                f"--grpc_python_out={tmp}", f"--mypy_out={tmp}", f"--mypy_grpc_out={tmp}",
                str(PROTO_DIR / "quorra.proto")]
        if protoc.main(args) != 0:
            raise SystemExit("protoc failed")
        written = []
        for path in sorted(pathlib.Path(tmp).glob("quorra_pb2*")):
            text = _ABSOLUTE.sub("from . import quorra_pb2", path.read_text())
            target = out / path.name
            target.write_text(HEADER + text)
            written.append(target)
    init = out / "__init__.py"
    init.write_text(HEADER + '"""Generated protobuf and gRPC code for package ``quorra``."""\n')
    return [init, *written]


if __name__ == "__main__":
    target = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUT
    for file in generate(target):
        print(file.relative_to(ROOT) if file.is_relative_to(ROOT) else file)
