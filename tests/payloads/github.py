"""GitHub webhook payloads in the shapes GitHub sends them.

Builders return fresh ``dict``s (mutate freely) with the fields GitHub's webhook docs and real
deliveries carry: ``action``, the subject object (issue, comment, pull_request, check_suite …),
``repository``, ``organization`` when owned by one, ``sender``, ``installation`` when sent to an
App. Comments on pull requests arrive as ``issue_comment`` with ``issue.pull_request`` set (and
without head/base); check suites name their PRs with head/base refs and repo ids only, and list
none for PRs from forks. Defaults describe one repository ``acme/widgets`` so builders combine.

``cloudevent(event, payload)`` wraps a payload as ingest-webhook emits it (binary mode), and
``webhook(event, payload)`` as GitHub POSTs it (headers + body), so tests can enter the pipeline
at either edge.
"""

from __future__ import annotations

import json
import uuid
import zlib
from typing import Any

OWNER = "acme"
REPO = "widgets"
FULL_NAME = f"{OWNER}/{REPO}"
REPO_ID = 700_100_200
API = "https://api.github.com"
WEB = "https://github.com"
CREATED = "2026-11-20T09:14:03Z"
UPDATED = "2026-11-25T10:02:41Z"

_ids = iter(range(3_000_000_001, 9_000_000_000))


def _next_id() -> int:
    return next(_ids)


def user(login: str = "octocat", *, user_id: int | None = None, kind: str = "User") -> dict[str, Any]:
    """A user object (``kind`` ``Bot`` for App identities, whose login ends ``[bot]``)."""
    uid = user_id if user_id is not None else zlib.crc32(login.encode()) % 90_000_000 + 1_000_000
    return {
        "login": login,
        "id": uid,
        "node_id": f"MDQ6VXNlcj{uid}",
        "avatar_url": f"https://avatars.githubusercontent.com/u/{uid}?v=4",
        "gravatar_id": "",
        "url": f"{API}/users/{login}",
        "html_url": f"{WEB}/{login}",
        "type": kind,
        "user_view_type": "public",
        "site_admin": False,
    }


def repository(
    full_name: str = FULL_NAME,
    *,
    repo_id: int = REPO_ID,
    default_branch: str = "main",
    fork: bool = False,
    private: bool = False,
) -> dict[str, Any]:
    owner, name = full_name.split("/", 1)
    return {
        "id": repo_id,
        "node_id": f"R_kgDO{repo_id}",
        "name": name,
        "full_name": full_name,
        "private": private,
        "owner": {**user(owner), "type": "Organization"},
        "html_url": f"{WEB}/{full_name}",
        "description": "Widgets, automated",
        "fork": fork,
        "url": f"{API}/repos/{full_name}",
        "pulls_url": f"{API}/repos/{full_name}/pulls{{/number}}",
        "issues_url": f"{API}/repos/{full_name}/issues{{/number}}",
        "clone_url": f"{WEB}/{full_name}.git",
        "ssh_url": f"git@github.com:{full_name}.git",
        "created_at": "2024-02-01T08:00:00Z",
        "updated_at": UPDATED,
        "pushed_at": UPDATED,
        "default_branch": default_branch,
        "visibility": "private" if private else "public",
        "open_issues_count": 12,
        "has_issues": True,
        "archived": False,
        "disabled": False,
    }


def _envelope(action: str | None, sender: str, repo: dict[str, Any] | None) -> dict[str, Any]:
    repo = repo if repo is not None else repository()
    owner = repo["full_name"].split("/", 1)[0]
    payload: dict[str, Any] = {}
    if action is not None:
        payload["action"] = action
    payload["repository"] = repo
    payload["organization"] = {
        "login": owner,
        "id": 9_100_001,
        "node_id": "O_kgDOB0x1",
        "url": f"{API}/orgs/{owner}",
        "repos_url": f"{API}/orgs/{owner}/repos",
        "description": None,
    }
    payload["sender"] = user(sender, kind="Bot" if sender.endswith("[bot]") else "User")
    payload["installation"] = {"id": 51_234_567, "node_id": "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uNTEyMzQ1Njc="}
    return payload


def label(name: str, *, color: str = "0e8a16") -> dict[str, Any]:
    lid = _next_id()
    return {
        "id": lid,
        "node_id": f"LA_kwDO{lid}",
        "url": f"{API}/repos/{FULL_NAME}/labels/{name}",
        "name": name,
        "color": color,
        "default": False,
        "description": None,
    }


def issue(
    number: int = 42,
    *,
    title: str = "Add retry to the widget exporter",
    body: str | None = None,
    author: str = "octocat",
    labels: list[str] | None = None,
    state: str = "open",
    pull_request: bool = False,
    full_name: str = FULL_NAME,
) -> dict[str, Any]:
    """An issue object; ``pull_request=True`` makes it the issue side of a PR (as comments see it)."""
    kind = "pull" if pull_request else "issues"
    iid = _next_id()
    data: dict[str, Any] = {
        "url": f"{API}/repos/{full_name}/issues/{number}",
        "repository_url": f"{API}/repos/{full_name}",
        "labels_url": f"{API}/repos/{full_name}/issues/{number}/labels{{/name}}",
        "comments_url": f"{API}/repos/{full_name}/issues/{number}/comments",
        "events_url": f"{API}/repos/{full_name}/issues/{number}/events",
        "html_url": f"{WEB}/{full_name}/{kind}/{number}",
        "id": iid,
        "node_id": f"I_kwDO{iid}",
        "number": number,
        "title": title,
        "user": user(author),
        "labels": [label(name) for name in labels or []],
        "state": state,
        "locked": False,
        "assignee": None,
        "assignees": [],
        "milestone": None,
        "comments": 0,
        "created_at": CREATED,
        "updated_at": UPDATED,
        "closed_at": None,
        "author_association": "MEMBER",
        "active_lock_reason": None,
        "body": body
        if body is not None
        else ("The exporter gives up after the first timeout.\n\n## Scope\n- retry with backoff\n- a test"),
        "reactions": {"url": f"{API}/repos/{full_name}/issues/{number}/reactions", "total_count": 0},
        "timeline_url": f"{API}/repos/{full_name}/issues/{number}/timeline",
        "state_reason": None,
    }
    if pull_request:
        data["draft"] = True
        data["pull_request"] = {
            "url": f"{API}/repos/{full_name}/pulls/{number}",
            "html_url": f"{WEB}/{full_name}/pull/{number}",
            "diff_url": f"{WEB}/{full_name}/pull/{number}.diff",
            "patch_url": f"{WEB}/{full_name}/pull/{number}.patch",
            "merged_at": None,
        }
    return data


def issues_opened(
    number: int = 42,
    *,
    sender: str = "octocat",
    title: str = "Add retry to the widget exporter",
    body: str | None = None,
    repo: dict[str, Any] | None = None,
) -> dict[str, Any]:
    payload = _envelope("opened", sender, repo)
    payload["issue"] = issue(
        number, title=title, body=body, author=sender, full_name=payload["repository"]["full_name"]
    )
    return payload


def issues_labeled(
    label_name: str = "codex",
    number: int = 42,
    *,
    sender: str = "octocat",
    author: str = "someone",
    title: str = "Add retry to the widget exporter",
    body: str | None = None,
    state: str = "open",
    action: str = "labeled",
) -> dict[str, Any]:
    """``issues.labeled`` (or ``unlabeled`` with ``action``): the issue already lists the label."""
    payload = _envelope(action, sender, None)
    labels = [label_name] if action == "labeled" else []
    payload["issue"] = issue(number, title=title, body=body, author=author, labels=labels, state=state)
    payload["label"] = label(label_name)
    return payload


def comment(
    body: str,
    *,
    author: str = "octocat",
    association: str = "MEMBER",
    number: int = 42,
    pull_request: bool = False,
    full_name: str = FULL_NAME,
) -> dict[str, Any]:
    cid = _next_id()
    kind = "pull" if pull_request else "issues"
    return {
        "url": f"{API}/repos/{full_name}/issues/comments/{cid}",
        "html_url": f"{WEB}/{full_name}/{kind}/{number}#issuecomment-{cid}",
        "issue_url": f"{API}/repos/{full_name}/issues/{number}",
        "id": cid,
        "node_id": f"IC_kwDO{cid}",
        "user": user(author, kind="Bot" if author.endswith("[bot]") else "User"),
        "created_at": UPDATED,
        "updated_at": UPDATED,
        "author_association": association,
        "body": body,
        "reactions": {"url": f"{API}/repos/{full_name}/issues/comments/{cid}/reactions", "total_count": 0},
        "performed_via_github_app": None,
    }


def issue_comment(
    body: str,
    *,
    author: str = "octocat",
    association: str = "MEMBER",
    number: int = 42,
    on_pr: bool = False,
    action: str = "created",
    title: str = "Add retry to the widget exporter",
    issue_body: str | None = None,
    sender: str | None = None,
) -> dict[str, Any]:
    """``issue_comment`` on an issue, or on a PR with ``on_pr`` (no head/base: GitHub omits them).

    ``edited`` carries ``changes.body.from``; ``deleted`` carries the comment as it was.
    """
    payload = _envelope(action, sender or author, None)
    payload["issue"] = issue(number, title=title, body=issue_body, pull_request=on_pr)
    payload["comment"] = comment(body, author=author, association=association, number=number, pull_request=on_pr)
    if action == "edited":
        payload["changes"] = {"body": {"from": "an earlier text"}}
    return payload


def _ref(ref: str, sha: str, repo: dict[str, Any], owner: str) -> dict[str, Any]:
    return {"label": f"{owner}:{ref}", "ref": ref, "sha": sha, "user": user(owner), "repo": repo}


def pull_request(
    number: int = 57,
    *,
    head_ref: str = "codex/issue-42-add-retry-to-the-widget-exporter",
    base_ref: str = "main",
    fork: bool = False,
    title: str = "Add retry to the widget exporter",
    body: str = "Closes #42",
    draft: bool = True,
    author: str = "tuslagch",
    head_sha: str = "6dcb09b5b57875f334f61aebed695e2e4193db5e",
) -> dict[str, Any]:
    base_repo = repository()
    head_repo = repository("forker/widgets", repo_id=REPO_ID + 9, fork=True) if fork else base_repo
    head_owner = "forker" if fork else OWNER
    pid = _next_id()
    return {
        "url": f"{API}/repos/{FULL_NAME}/pulls/{number}",
        "id": pid,
        "node_id": f"PR_kwDO{pid}",
        "html_url": f"{WEB}/{FULL_NAME}/pull/{number}",
        "diff_url": f"{WEB}/{FULL_NAME}/pull/{number}.diff",
        "issue_url": f"{API}/repos/{FULL_NAME}/issues/{number}",
        "number": number,
        "state": "open",
        "locked": False,
        "title": title,
        "user": user(author),
        "body": body,
        "created_at": CREATED,
        "updated_at": UPDATED,
        "closed_at": None,
        "merged_at": None,
        "merge_commit_sha": None,
        "draft": draft,
        "head": _ref(head_ref, head_sha, head_repo, head_owner),
        "base": _ref(base_ref, "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c", base_repo, OWNER),
        "author_association": "CONTRIBUTOR" if fork else "MEMBER",
        "auto_merge": None,
        "merged": False,
        "mergeable": None,
        "mergeable_state": "unknown",
        "comments": 1,
        "review_comments": 0,
        "commits": 2,
        "additions": 40,
        "deletions": 3,
        "changed_files": 2,
    }


def pull_request_event(
    action: str = "synchronize",
    *,
    number: int = 57,
    head_ref: str = "codex/issue-42-add-retry-to-the-widget-exporter",
    base_ref: str = "main",
    fork: bool = False,
    sender: str = "tuslagch",
) -> dict[str, Any]:
    payload = _envelope(action, sender, None)
    payload["number"] = number
    payload["pull_request"] = pull_request(number, head_ref=head_ref, base_ref=base_ref, fork=fork)
    if action == "synchronize":
        payload["before"] = "1f8a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c"
        payload["after"] = payload["pull_request"]["head"]["sha"]
    return payload


def _minimal_pr(number: int, head_ref: str, base_ref: str, head_repo_id: int = REPO_ID) -> dict[str, Any]:
    """The short PR objects check suites and runs list (refs, shas and repo ids only)."""

    def repo(rid: int, name: str) -> dict[str, Any]:
        return {"id": rid, "url": f"{API}/repos/{name}", "name": name.split("/")[1]}

    return {
        "url": f"{API}/repos/{FULL_NAME}/pulls/{number}",
        "id": _next_id(),
        "number": number,
        "head": {
            "ref": head_ref,
            "sha": "6dcb09b5b57875f334f61aebed695e2e4193db5e",
            "repo": repo(head_repo_id, FULL_NAME),
        },
        "base": {"ref": base_ref, "sha": "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c", "repo": repo(REPO_ID, FULL_NAME)},
    }


def check_suite(
    *,
    head_branch: str | None = "codex/issue-42-add-retry-to-the-widget-exporter",
    pulls: list[tuple[int, str]] | None = None,
    conclusion: str = "success",
    status: str = "completed",
) -> dict[str, Any]:
    """``pulls`` as (number, base_ref); None means one PR #57 into main; [] (as for forks) none."""
    pulls = [(57, "main")] if pulls is None else pulls
    sid = _next_id()
    return {
        "id": sid,
        "node_id": f"CS_kwDO{sid}",
        "head_branch": head_branch,
        "head_sha": "6dcb09b5b57875f334f61aebed695e2e4193db5e",
        "status": status,
        "conclusion": conclusion if status == "completed" else None,
        "url": f"{API}/repos/{FULL_NAME}/check-suites/{sid}",
        "before": "1f8a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c",
        "after": "6dcb09b5b57875f334f61aebed695e2e4193db5e",
        "pull_requests": [_minimal_pr(n, head_branch or "", base) for n, base in pulls],
        "app": {"id": 15368, "slug": "github-actions", "name": "GitHub Actions"},
        "created_at": CREATED,
        "updated_at": UPDATED,
        "rerequestable": True,
        "runs_rerequestable": False,
        "latest_check_runs_count": 3,
        "check_runs_url": f"{API}/repos/{FULL_NAME}/check-suites/{sid}/check-runs",
        "head_commit": {
            "id": "6dcb09b5b57875f334f61aebed695e2e4193db5e",
            "message": "Add retry",
            "timestamp": UPDATED,
            "author": {"name": "tuslagch", "email": "bot@example.test"},
        },
    }


def check_suite_completed(
    *,
    head_branch: str | None = "codex/issue-42-add-retry-to-the-widget-exporter",
    pulls: list[tuple[int, str]] | None = None,
    conclusion: str = "success",
    sender: str = "github-actions[bot]",
) -> dict[str, Any]:
    payload = _envelope("completed", sender, None)
    payload["check_suite"] = check_suite(head_branch=head_branch, pulls=pulls, conclusion=conclusion)
    return payload


def check_run_completed(
    *,
    head_branch: str | None = "codex/issue-42-add-retry-to-the-widget-exporter",
    pulls: list[tuple[int, str]] | None = None,
    conclusion: str = "failure",
    name: str = "ci / test",
    sender: str = "github-actions[bot]",
) -> dict[str, Any]:
    payload = _envelope("completed", sender, None)
    suite = check_suite(head_branch=head_branch, pulls=pulls, conclusion=conclusion)
    rid = _next_id()
    payload["check_run"] = {
        "id": rid,
        "node_id": f"CR_kwDO{rid}",
        "name": name,
        "head_sha": suite["head_sha"],
        "external_id": "",
        "url": f"{API}/repos/{FULL_NAME}/check-runs/{rid}",
        "html_url": f"{WEB}/{FULL_NAME}/runs/{rid}",
        "details_url": f"{WEB}/{FULL_NAME}/runs/{rid}",
        "status": "completed",
        "conclusion": conclusion,
        "started_at": CREATED,
        "completed_at": UPDATED,
        "output": {"title": "2 tests failed", "summary": "", "text": None, "annotations_count": 0},
        "check_suite": {
            key: suite[key]
            for key in (
                "id",
                "node_id",
                "head_branch",
                "head_sha",
                "status",
                "conclusion",
                "url",
                "before",
                "after",
                "pull_requests",
                "app",
                "created_at",
                "updated_at",
            )
        },
        "app": suite["app"],
        "pull_requests": suite["pull_requests"],
    }
    return payload


def pull_request_review_submitted(
    *,
    number: int = 57,
    state: str = "changes_requested",
    head_ref: str = "codex/issue-42-add-retry-to-the-widget-exporter",
    fork: bool = False,
    reviewer: str = "octocat",
    body: str | None = "Please add a test for the backoff.",
) -> dict[str, Any]:
    payload = _envelope("submitted", reviewer, None)
    rid = _next_id()
    payload["review"] = {
        "id": rid,
        "node_id": f"PRR_kwDO{rid}",
        "user": user(reviewer),
        "body": body,
        "commit_id": "6dcb09b5b57875f334f61aebed695e2e4193db5e",
        "submitted_at": UPDATED,
        "state": state,
        "html_url": f"{WEB}/{FULL_NAME}/pull/{number}#pullrequestreview-{rid}",
        "pull_request_url": f"{API}/repos/{FULL_NAME}/pulls/{number}",
        "author_association": "MEMBER",
    }
    payload["pull_request"] = pull_request(number, head_ref=head_ref, fork=fork)
    return payload


def pull_request_review_thread(
    action: str = "resolved",
    *,
    number: int = 57,
    head_ref: str = "codex/issue-42-add-retry-to-the-widget-exporter",
    fork: bool = False,
    sender: str = "octocat",
) -> dict[str, Any]:
    payload = _envelope(action, sender, None)
    cid = _next_id()
    payload["pull_request"] = pull_request(number, head_ref=head_ref, fork=fork)
    payload["thread"] = {
        "node_id": f"PRRT_kwDO{cid}",
        "comments": [
            {
                "id": cid,
                "node_id": f"PRRC_kwDO{cid}",
                "url": f"{API}/repos/{FULL_NAME}/pulls/comments/{cid}",
                "pull_request_review_id": cid - 1,
                "diff_hunk": "@@ -10,6 +10,8 @@ def export(",
                "path": "widgets/exporter.py",
                "position": 4,
                "original_position": 4,
                "commit_id": "6dcb09b5b57875f334f61aebed695e2e4193db5e",
                "user": user(sender),
                "body": "This retry never stops on 4xx.",
                "created_at": CREATED,
                "updated_at": UPDATED,
                "html_url": f"{WEB}/{FULL_NAME}/pull/{number}#discussion_r{cid}",
                "author_association": "MEMBER",
                "line": 14,
                "side": "RIGHT",
            }
        ],
    }
    return payload


def push(*, ref: str = "refs/heads/main", sender: str = "octocat") -> dict[str, Any]:
    """A push (no action): route-task has no rule for it."""
    payload = _envelope(None, sender, None)
    payload.update(
        {
            "ref": ref,
            "before": "1f8a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c",
            "after": "6dcb09b5b57875f334f61aebed695e2e4193db5e",
            "created": False,
            "deleted": False,
            "forced": False,
            "commits": [],
            "head_commit": None,
            "pusher": {"name": sender},
        }
    )
    return payload


def event_type(event: str, payload: dict[str, Any]) -> str:
    """The raw CloudEvent type ingest-webhook gives a delivery."""
    action = payload.get("action")
    return f"com.github.{event}.{action}" if isinstance(action, str) and action else f"com.github.{event}"


def webhook(event: str, payload: dict[str, Any], delivery: str | None = None) -> tuple[dict[str, str], bytes]:
    """Headers and body as GitHub POSTs a delivery (unsigned: sign with signatures.sign)."""
    body = json.dumps(payload).encode()
    return {
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/8e03811",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "X-GitHub-Hook-ID": "469891912",
        "X-GitHub-Hook-Installation-Target-ID": str(REPO_ID),
        "X-GitHub-Hook-Installation-Target-Type": "repository",
    }, body


def cloudevent(
    event: str, payload: dict[str, Any], delivery: str | None = None, traceparent: str | None = None
) -> tuple[dict[str, str], bytes]:
    """Binary-mode headers and body of the raw CloudEvent ingest-webhook emits for a delivery."""
    found = payload.get("repository")
    repo: dict[str, Any] = found if isinstance(found, dict) else {}
    headers = {
        "ce-specversion": "1.0",
        "ce-id": delivery or str(uuid.uuid4()),
        "ce-source": str(repo.get("html_url") or WEB),
        "ce-type": event_type(event, payload),
        "ce-githubevent": event,
        "ce-githubhookid": "469891912",
        "content-type": "application/json",
    }
    for key in ("issue", "pull_request"):
        item = payload.get(key)
        if isinstance(item, dict) and isinstance(item.get("number"), int):
            headers["ce-subject"] = str(item["number"])
            headers["ce-partitionkey"] = f"{repo.get('full_name')}#{item['number']}"
            break
    if traceparent:
        headers["ce-traceparent"] = traceparent
        headers["traceparent"] = traceparent
    return headers, json.dumps(payload).encode()
