"""The tests' name for the GitHub API stand-in (it lives in the library: ``codex-pipeline dev`` serves it)."""

from codex_pipeline.dev.github_standin import Answered, FakeApp, FakeGitHub, FakeRepo, Fault

__all__ = ["Answered", "FakeApp", "FakeGitHub", "FakeRepo", "Fault"]
