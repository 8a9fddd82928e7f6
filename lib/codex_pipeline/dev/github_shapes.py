"""GitHub REST objects in the shapes GitHub's description gives them, for the stand-in.

Follows GitHub's REST description (github/rest-api-description, API version 2022-11-28) as
shipped in githubkit-schemas-2022-11-28 26.10.21: every object below carries every field that
description marks required (tests/test_github_shapes.py validates the stand-in's answers
against those generated models). Values are plausible, not meaningful: URLs point at the
stand-in's own API base, counters are zero. Written for the stand-in, not copied from GitHub.
"""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime
from typing import Any

WEB = "https://github.com"

# Repository fields that are URL templates under the repository's API URL (``<api>/repos/o/r/<suffix>``).
_REPO_URLS = {
    "archive_url": "{archive_format}{/ref}",
    "assignees_url": "assignees{/user}",
    "blobs_url": "git/blobs{/sha}",
    "branches_url": "branches{/branch}",
    "collaborators_url": "collaborators{/collaborator}",
    "comments_url": "comments{/number}",
    "commits_url": "commits{/sha}",
    "compare_url": "compare/{base}...{head}",
    "contents_url": "contents/{+path}",
    "contributors_url": "contributors",
    "deployments_url": "deployments",
    "downloads_url": "downloads",
    "events_url": "events",
    "forks_url": "forks",
    "git_commits_url": "git/commits{/sha}",
    "git_refs_url": "git/refs{/sha}",
    "git_tags_url": "git/tags{/sha}",
    "issue_comment_url": "issues/comments{/number}",
    "issue_events_url": "issues/events{/number}",
    "issues_url": "issues{/number}",
    "keys_url": "keys{/key_id}",
    "labels_url": "labels{/name}",
    "languages_url": "languages",
    "merges_url": "merges",
    "milestones_url": "milestones{/number}",
    "notifications_url": "notifications{?since,all,participating}",
    "pulls_url": "pulls{/number}",
    "releases_url": "releases{/id}",
    "stargazers_url": "stargazers",
    "statuses_url": "statuses/{sha}",
    "subscribers_url": "subscribers",
    "subscription_url": "subscription",
    "tags_url": "tags",
    "teams_url": "teams",
    "trees_url": "git/trees{/sha}",
    "hooks_url": "hooks",
}
_USER_URLS = {
    "followers_url": "followers",
    "following_url": "following{/other_user}",
    "gists_url": "gists{/gist_id}",
    "starred_url": "starred{/owner}{/repo}",
    "subscriptions_url": "subscriptions",
    "organizations_url": "orgs",
    "repos_url": "repos",
    "events_url": "events{/privacy}",
    "received_events_url": "received_events",
}
EPOCH = "2026-01-05T09:00:00Z"


def now_iso(offset: float = 0.0) -> str:
    return datetime.fromtimestamp(time.time() + offset, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def node_id(kind: str, number: int) -> str:
    return kind + "_" + base64.b64encode(f"{kind}{number}".encode()).decode().rstrip("=")


def user(api: str, login: str, kind: str = "User") -> dict[str, Any]:
    """A ``simple-user`` (``kind``: User, Bot or Organization)."""
    uid = sum(login.encode()) + 10_000
    shape: dict[str, Any] = {
        "login": login,
        "id": uid,
        "node_id": node_id("U", uid),
        "type": kind,
        "site_admin": False,
        "avatar_url": f"https://avatars.githubusercontent.com/u/{uid}?v=4",
        "gravatar_id": "",
        "url": f"{api}/users/{login}",
        "html_url": f"{WEB}/{login}",
    }
    shape.update({key: f"{api}/users/{login}/{suffix}" for key, suffix in _USER_URLS.items()})
    return shape


def repository(
    api: str, full_name: str, *, repo_id: int, default_branch: str = "main", private: bool = False, full: bool = True
) -> dict[str, Any]:
    """A ``full-repository`` (``GET /repos/o/r``) or, with ``full=False``, a ``repository`` (in a PR's head/base)."""
    owner, name = full_name.split("/", 1)
    url = f"{api}/repos/{full_name}"
    shape: dict[str, Any] = {
        "id": repo_id,
        "node_id": node_id("R", repo_id),
        "name": name,
        "full_name": full_name,
        "owner": user(api, owner, "Organization"),
        "private": private,
        "visibility": "private" if private else "public",
        "html_url": f"{WEB}/{full_name}",
        "description": None,
        "fork": False,
        "url": url,
        "git_url": f"git://github.com/{full_name}.git",
        "ssh_url": f"git@github.com:{full_name}.git",
        "clone_url": f"{WEB}/{full_name}.git",
        "svn_url": f"{WEB}/{full_name}",
        "mirror_url": None,
        "homepage": None,
        "language": "Python",
        "forks_count": 0,
        "stargazers_count": 0,
        "watchers_count": 0,
        "size": 1,
        "default_branch": default_branch,
        "open_issues_count": 0,
        "has_issues": True,
        "has_projects": True,
        "has_wiki": False,
        "has_pages": False,
        "has_discussions": False,
        "has_downloads": True,
        "archived": False,
        "disabled": False,
        "pushed_at": EPOCH,
        "created_at": EPOCH,
        "updated_at": EPOCH,
        "license": None,
        "forks": 0,
        "open_issues": 0,
        "watchers": 0,
        "topics": [],
        "is_template": False,
        "allow_forking": True,
        "web_commit_signoff_required": False,
    }
    shape.update({key: f"{url}/{suffix}" for key, suffix in _REPO_URLS.items()})
    if full:
        shape.update({"subscribers_count": 0, "network_count": 0})
    return shape


def issue(
    api: str,
    full_name: str,
    *,
    issue_id: int,
    number: int,
    title: str,
    body: str,
    author: dict[str, Any],
    labels: list[str],
    created_at: str,
) -> dict[str, Any]:
    """An ``issue`` as ``POST/GET /repos/o/r/issues`` answer it."""
    url = f"{api}/repos/{full_name}/issues/{number}"
    return {
        "id": issue_id,
        "node_id": node_id("I", issue_id),
        "number": number,
        "title": title,
        "body": body,
        "url": url,
        "repository_url": f"{api}/repos/{full_name}",
        "labels_url": url + "/labels{/name}",
        "comments_url": url + "/comments",
        "events_url": url + "/events",
        "html_url": f"{WEB}/{full_name}/issues/{number}",
        "user": author,
        "labels": [label(api, full_name, name) for name in labels],
        "state": "open",
        "state_reason": None,
        "locked": False,
        "active_lock_reason": None,
        "assignee": None,
        "assignees": [],
        "milestone": None,
        "comments": 0,
        "created_at": created_at,
        "updated_at": created_at,
        "closed_at": None,
        "author_association": "NONE",
        "reactions": reactions(url + "/reactions"),
    }


def label(api: str, full_name: str, name: str) -> dict[str, Any]:
    lid = sum(name.encode()) + 500
    return {
        "id": lid,
        "node_id": node_id("LA", lid),
        "url": f"{api}/repos/{full_name}/labels/{name}",
        "name": name,
        "description": None,
        "color": "ededed",
        "default": False,
    }


def reactions(url: str) -> dict[str, Any]:
    return {
        "url": url,
        "total_count": 0,
        "+1": 0,
        "-1": 0,
        "laugh": 0,
        "confused": 0,
        "heart": 0,
        "hooray": 0,
        "eyes": 0,
        "rocket": 0,
    }


def issue_comment(
    api: str,
    full_name: str,
    *,
    comment_id: int,
    number: int,
    body: str,
    author: dict[str, Any],
    association: str,
    created_at: str,
) -> dict[str, Any]:
    url = f"{api}/repos/{full_name}/issues/comments/{comment_id}"
    return {
        "id": comment_id,
        "node_id": node_id("IC", comment_id),
        "url": url,
        "html_url": f"{WEB}/{full_name}/issues/{number}#issuecomment-{comment_id}",
        "issue_url": f"{api}/repos/{full_name}/issues/{number}",
        "body": body,
        "user": author,
        "created_at": created_at,
        "updated_at": created_at,
        "author_association": association,
        "performed_via_github_app": None,
        "reactions": reactions(url + "/reactions"),
    }


def pull_request(
    api: str,
    full_name: str,
    *,
    pull_id: int,
    number: int,
    title: str,
    body: str,
    author: dict[str, Any],
    head: dict[str, Any],
    base: dict[str, Any],
    draft: bool,
    mergeable: bool | None,
    mergeable_state: str,
    created_at: str,
) -> dict[str, Any]:
    """A full ``pull-request`` (``GET /pulls/N``, ``POST /pulls``); ``head``/``base`` from :func:`pull_ref`."""
    url = f"{api}/repos/{full_name}/pulls/{number}"
    issue_url = f"{api}/repos/{full_name}/issues/{number}"
    html = f"{WEB}/{full_name}/pull/{number}"
    statuses = f"{api}/repos/{full_name}/statuses/{head['sha']}"
    return {
        "url": url,
        "id": pull_id,
        "node_id": node_id("PR", pull_id),
        "html_url": html,
        "diff_url": html + ".diff",
        "patch_url": html + ".patch",
        "issue_url": issue_url,
        "commits_url": url + "/commits",
        "review_comments_url": url + "/comments",
        "review_comment_url": f"{api}/repos/{full_name}/pulls/comments{{/number}}",
        "comments_url": issue_url + "/comments",
        "statuses_url": statuses,
        "number": number,
        "state": "open",
        "locked": False,
        "title": title,
        "user": author,
        "body": body,
        "labels": [],
        "milestone": None,
        "active_lock_reason": None,
        "created_at": created_at,
        "updated_at": created_at,
        "closed_at": None,
        "merged_at": None,
        "merge_commit_sha": None,
        "assignee": None,
        "assignees": [],
        "requested_reviewers": [],
        "requested_teams": [],
        "head": head,
        "base": base,
        "_links": {
            "self": {"href": url},
            "html": {"href": html},
            "issue": {"href": issue_url},
            "comments": {"href": issue_url + "/comments"},
            "review_comments": {"href": url + "/comments"},
            "review_comment": {"href": f"{api}/repos/{full_name}/pulls/comments{{/number}}"},
            "commits": {"href": url + "/commits"},
            "statuses": {"href": statuses},
        },
        "author_association": "CONTRIBUTOR",
        "auto_merge": None,
        "draft": draft,
        "merged": False,
        "mergeable": mergeable,
        "rebaseable": mergeable,
        "mergeable_state": mergeable_state,
        "merged_by": None,
        "comments": 0,
        "review_comments": 0,
        "maintainer_can_modify": False,
        "commits": 1,
        "additions": 1,
        "deletions": 0,
        "changed_files": 1,
    }


# Fields of a full pull request that the list endpoint's ``pull-request-simple`` does not have.
_NOT_IN_SIMPLE = (
    "merged",
    "mergeable",
    "rebaseable",
    "mergeable_state",
    "merged_by",
    "comments",
    "review_comments",
    "maintainer_can_modify",
    "commits",
    "additions",
    "deletions",
    "changed_files",
)


def pull_request_simple(pull: dict[str, Any]) -> dict[str, Any]:
    """``GET /pulls`` lists the simple form: no mergeability, no counters."""
    return {key: value for key, value in pull.items() if key not in _NOT_IN_SIMPLE}


def issue_of_pull(api: str, full_name: str, pull: dict[str, Any]) -> dict[str, Any]:
    """Every pull request is an issue too: the issues endpoints show it with a ``pull_request`` key."""
    shape = issue(
        api,
        full_name,
        issue_id=pull["id"] + 1,
        number=pull["number"],
        title=pull["title"],
        body=pull["body"],
        author=pull["user"],
        labels=[],
        created_at=pull["created_at"],
    )
    shape["state"] = pull["state"]
    shape["draft"] = pull["draft"]
    shape["pull_request"] = {
        "url": pull["url"],
        "html_url": pull["html_url"],
        "diff_url": pull["diff_url"],
        "patch_url": pull["patch_url"],
        "merged_at": pull["merged_at"],
    }
    return shape


def pull_ref(api: str, full_name: str, *, ref: str, sha: str, repo_id: int) -> dict[str, Any]:
    owner = full_name.split("/", 1)[0]
    return {
        "label": f"{owner}:{ref}",
        "ref": ref,
        "sha": sha,
        "user": user(api, owner, "Organization"),
        "repo": repository(api, full_name, repo_id=repo_id, full=False),
    }


def app(api: str, *, app_id: int, slug: str, owner: str = "codex-org") -> dict[str, Any]:
    """An ``integration`` (a GitHub App), as ``GET /app`` and check runs' ``app`` show it."""
    return {
        "id": app_id,
        "slug": slug,
        "node_id": node_id("A", app_id),
        "client_id": f"Iv1.{app_id:016x}",
        "owner": user(api, owner, "Organization"),
        "name": slug,
        "description": None,
        "external_url": f"https://{slug}.example.test",
        "html_url": f"{WEB}/apps/{slug}",
        "created_at": EPOCH,
        "updated_at": EPOCH,
        "permissions": {
            "checks": "write",
            "issues": "write",
            "pull_requests": "write",
            "contents": "write",
            "statuses": "write",
            "metadata": "read",
        },
        "events": ["issues", "issue_comment", "pull_request", "check_run"],
    }


def check_run(
    api: str,
    full_name: str,
    *,
    run_id: int,
    sha: str,
    name: str,
    status: str,
    conclusion: str | None,
    app_shape: dict[str, Any],
    details_url: str | None,
    external_id: str | None,
    started_at: str | None,
    completed_at: str | None,
    title: str | None,
    summary: str | None,
    text: str | None,
) -> dict[str, Any]:
    url = f"{api}/repos/{full_name}/check-runs/{run_id}"
    return {
        "id": run_id,
        "node_id": node_id("CR", run_id),
        "head_sha": sha,
        "external_id": external_id,
        "name": name,
        "url": url,
        "html_url": f"{WEB}/{full_name}/runs/{run_id}",
        "details_url": details_url,
        "status": status,
        "conclusion": conclusion,
        "started_at": started_at,
        "completed_at": completed_at,
        "output": {
            "title": title,
            "summary": summary,
            "text": text,
            "annotations_count": 0,
            "annotations_url": url + "/annotations",
        },
        "check_suite": {"id": run_id + 1},
        "app": app_shape,
        "pull_requests": [],
    }


def commit_status(
    api: str,
    full_name: str,
    *,
    status_id: int,
    sha: str,
    context: str,
    state: str,
    description: str | None,
    target_url: str | None,
    creator: dict[str, Any],
    created_at: str,
) -> dict[str, Any]:
    return {
        "url": f"{api}/repos/{full_name}/statuses/{sha}",
        "avatar_url": creator["avatar_url"],
        "id": status_id,
        "node_id": node_id("SC", status_id),
        "state": state,
        "description": description,
        "target_url": target_url,
        "context": context,
        "created_at": created_at,
        "updated_at": created_at,
        "creator": creator,
    }


def minimal_repository(api: str, full_name: str, *, repo_id: int) -> dict[str, Any]:
    shape = repository(api, full_name, repo_id=repo_id, full=False)
    shape.pop("license")
    return shape


def installation(api: str, *, installation_id: int, app_id: int, slug: str, account: str) -> dict[str, Any]:
    return {
        "id": installation_id,
        "account": user(api, account, "Organization"),
        "repository_selection": "all",
        "access_tokens_url": f"{api}/app/installations/{installation_id}/access_tokens",
        "repositories_url": f"{api}/installation/repositories",
        "html_url": f"{WEB}/organizations/{account}/settings/installations/{installation_id}",
        "app_id": app_id,
        "target_id": sum(account.encode()) + 10_000,
        "target_type": "Organization",
        "permissions": {
            "checks": "write",
            "issues": "write",
            "pull_requests": "write",
            "contents": "write",
            "statuses": "write",
            "metadata": "read",
        },
        "events": ["issues", "issue_comment", "pull_request"],
        "created_at": EPOCH,
        "updated_at": EPOCH,
        "single_file_name": None,
        "app_slug": slug,
        "suspended_by": None,
        "suspended_at": None,
    }
