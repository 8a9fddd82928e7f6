"""The tests' name for the loopback fake server base (it lives in the library: dev serves a stand-in on it)."""

from codex_pipeline.dev.fakehttp import Answer, FakeServer, Recorded, RecordingSink

__all__ = ["Answer", "FakeServer", "Recorded", "RecordingSink"]
