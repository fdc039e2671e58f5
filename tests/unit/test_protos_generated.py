"""The committed generated code must be exactly what the .proto files produce."""
from pathlib import Path

from shoal.protos import generate

ROOT = Path(generate.__file__).resolve().parent.parent


def test_generated_code_matches_protos(tmp_path):
    generate.generate(tmp_path)
    produced = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert produced, "protoc produced nothing"
    stale = [str(rel) for rel in produced if (ROOT / rel).read_bytes() != (tmp_path / rel).read_bytes()]
    assert not stale, f"generated code is stale, run `make protos`: {stale}"


def test_every_proto_has_committed_code():
    for proto in generate.proto_files():
        stem = ROOT / proto.with_suffix("")
        for suffix in ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py"):
            assert Path(f"{stem}{suffix}").exists(), f"missing {stem}{suffix}"
