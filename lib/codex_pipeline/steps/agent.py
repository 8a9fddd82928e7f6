"""Codex runs as another, unprivileged user: it can edit the working tree and nothing that is the step's.

In yolo mode (no sandbox, no approvals) a prompt-injected Codex runs whatever the issue text asks.
Run as the step's own user it could read ``/proc/<step>/environ``, the mounted secret files and the
git credential. So, when ``CODEX_AGENT_USER`` names a user, the step (root in its container, holding
only the capabilities listed in the WorkflowTemplates) runs Codex as that uid:

- with a clean environment: an allowlist (:data:`PASSED_ENV` plus the names in ``CODEX_AGENT_ENV``),
  its own ``HOME``, and no credential at all (the model key stays in the step's loopback proxy);
- :func:`hand_over` gives the agent the working tree but not ``.git`` or the step's own ``.codex-*``
  files: the top directory stays the step's, group-writable for the agent and sticky, so the agent
  can add and remove its own entries but cannot rename ``.git`` away and plant a repository whose
  ``core.fsmonitor`` or hooks the step's git would run;
- :func:`take_back` kills every process the agent left behind and makes the whole tree the step's
  again before the step commits and pushes, so nothing the agent runs can change the tree under git.

``/proc/<pid>/environ`` of another uid needs ``CAP_SYS_PTRACE``, which the agent never has; secret
files are the step's, mode 0400. Without ``CODEX_AGENT_USER`` (local development) Codex runs as the
step's user, still with the clean environment.
"""

from __future__ import annotations

import os
import pwd
import signal
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from codex_pipeline.errors import ConfigurationError

# What the agent's environment may hold besides HOME/USER/LOGNAME: locale, time zone, proxies and CAs.
PASSED_ENV = (
    "PATH",
    "LANG",
    "LANGUAGE",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "TERM",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "all_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
)
# Entries of the working tree that stay the step's while the agent works.
STEP_OWNED = (".git",)
STEP_FILE_PREFIX = ".codex-"


@dataclass(frozen=True)
class AgentUser:
    """The uid and gid Codex runs as, and its home directory (``None``: a fresh one per run)."""

    uid: int
    gid: int
    home: Path | None = None

    @classmethod
    def parse(cls, spec: str) -> AgentUser:
        """``codex`` (a user of the image), ``1001`` or ``1001:1001``; root is refused."""
        name, _, group = spec.strip().partition(":")
        try:
            if name.isdigit():
                uid = int(name)
                try:
                    entry: pwd.struct_passwd | None = pwd.getpwuid(uid)
                except KeyError:
                    entry = None
            else:
                entry = pwd.getpwnam(name)
                uid = entry.pw_uid
        except KeyError:
            raise ConfigurationError(f"CODEX_AGENT_USER: no user {name!r} in this image") from None
        if not group:
            gid = entry.pw_gid if entry else uid
        elif group.isdigit():
            gid = int(group)
        else:
            raise ConfigurationError(f"CODEX_AGENT_USER: group must be numeric, got {group!r}")
        if uid == 0 or gid == 0:
            raise ConfigurationError("CODEX_AGENT_USER must not be root: Codex would hold every credential")
        home = Path(entry.pw_dir) if entry and entry.pw_dir and Path(entry.pw_dir).is_dir() else None
        return cls(uid, gid, home)


def agent_user(environ: Mapping[str, str]) -> AgentUser | None:
    """``CODEX_AGENT_USER`` when set; a step that cannot switch to it stops with the reason."""
    from codex_pipeline.shell.config import load_settings

    spec = load_settings(environ, only={"CODEX_AGENT_USER"}).agent_user
    if not spec:
        return None
    user = AgentUser.parse(spec)
    if user.uid == os.geteuid():
        return None  # already that user (an image run with USER codex): nothing to switch
    if os.geteuid() != 0:
        raise ConfigurationError(
            f"CODEX_AGENT_USER={spec}: the step must run as root (with CAP_SETUID, "
            "CAP_SETGID, CAP_CHOWN) to start Codex as another user"
        )
    return user


def agent_environ(environ: Mapping[str, str], home: Path | None, workdir: Path | None = None) -> dict[str, str]:
    """The agent's whole environment: the allowlist, ``CODEX_AGENT_ENV`` names, and its own HOME.

    With ``workdir`` (Codex as another user), git may read the step's repository there
    (``safe.directory``), so Codex can still run ``git status``/``git diff``; it cannot write ``.git``.
    """
    from codex_pipeline.shell.config import load_settings

    extra = load_settings(environ, only={"CODEX_AGENT_ENV"}).agent_env
    env = {name: environ[name] for name in (*PASSED_ENV, *extra) if name in environ}
    env.setdefault("PATH", os.defpath)
    if home is not None:
        env["HOME"] = str(home)
    elif "HOME" in environ:
        env["HOME"] = environ["HOME"]
    if workdir is not None:
        env.update({"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "safe.directory", "GIT_CONFIG_VALUE_0": str(workdir)})
    return env


def agent_home(user: AgentUser) -> Path:
    """The image's home of the agent user, else a fresh directory it owns (removed with the pod)."""
    if user.home is not None:
        return user.home
    home = Path(tempfile.mkdtemp(prefix="codex-agent-home-"))
    os.chown(home, user.uid, user.gid)
    home.chmod(0o700)
    return home


def _step_owned(workdir: Path, path: Path) -> bool:
    relative = path.relative_to(workdir).parts
    return bool(relative) and (
        relative[0] in STEP_OWNED or (len(relative) == 1 and relative[0].startswith(STEP_FILE_PREFIX))
    )


def hand_over(workdir: Path, user: AgentUser) -> None:
    """Give the agent every path of the tree except ``.git`` and the step's files; see the module doc."""
    for root, dirs, files in os.walk(workdir):
        here = Path(root)
        dirs[:] = [name for name in dirs if not _step_owned(workdir, here / name)]
        for name in (*dirs, *files):
            path = here / name
            if not _step_owned(workdir, path):
                os.chown(path, user.uid, user.gid, follow_symlinks=False)
    os.chown(workdir, os.geteuid(), user.gid)
    workdir.chmod(0o3775)  # setgid: new entries are the agent's group; sticky: it cannot move ours


def stop_agent_processes(user: AgentUser) -> None:
    """Kill every process of the agent's uid (one it daemonised included) before git touches the tree."""
    pid = os.fork()
    if pid == 0:  # the child becomes the agent and signals all of its processes (kill(-1) spares itself)
        try:
            os.setgroups([])
            os.setgid(user.gid)
            os.setuid(user.uid)
            os.kill(-1, signal.SIGKILL)
        except OSError:
            pass
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def take_back(workdir: Path, user: AgentUser) -> None:
    """After Codex: stop what the agent left running, then the tree is the step's alone again."""
    stop_agent_processes(user)
    uid, gid = os.geteuid(), os.getegid()
    os.chown(workdir, uid, gid)
    workdir.chmod(0o755)
    for root, dirs, files in os.walk(workdir):
        here = Path(root)
        for name in (*dirs, *files):
            os.chown(here / name, uid, gid, follow_symlinks=False)
