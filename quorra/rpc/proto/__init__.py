# Generated from proto/quorra.proto by `make proto`. Do not edit.
"""Generated protobuf and gRPC code for package ``quorra``."""
