"""The on-demand revalidation endpoint: who may call it, what a body may hold, how paths
become route keys, and that only an accepted, recorded request changes anything."""

from __future__ import annotations

import json
from typing import Any

import pytest

from seeding.config import SiteConfig
from seeding.http import BodyTooLarge
from seeding.primitives.cache import CacheEntry
from seeding.revalidation import (
    MAX_BODY_BYTES,
    MAX_PATHS,
    RevalidationAnswer,
    RevalidationRequest,
    check_revalidation,
    handle_revalidation,
    refuse_on_headers,
)
from seeding.routes import MAX_ROUTE_LENGTH
from seeding.schema import MAX_TAG_LENGTH, MAX_TAGS
from seeding.shared.tag_clock import RevalidationMode, TagClock, Verdict
from tests.unit.fakes_shared import SqliteD1

SECRET = "s3cret-\u00e9-token"
AUTH = {"authorization": f"Bearer {SECRET}"}


def body(**fields: Any) -> bytes:
    return json.dumps(fields).encode()


def check(
    payload: bytes | None = None,
    *,
    method: str = "POST",
    headers: dict[str, str] | None = None,
    secret: str | None = SECRET,
    **options: Any,
) -> RevalidationAnswer:
    payload = body(paths=["/blog/a"]) if payload is None else payload
    return check_revalidation(
        method, AUTH if headers is None else headers, payload, secret, **options
    )


def error_of(answer: RevalidationAnswer) -> str:
    assert answer.request is None
    message = json.loads(answer.body)["error"]
    assert isinstance(message, str)
    return message


class Recorder:
    def __init__(self, result: bool = True) -> None:
        self.result = result
        self.applied: list[RevalidationRequest] = []

    async def __call__(self, request: RevalidationRequest) -> bool:
        self.applied.append(request)
        return self.result


@pytest.mark.parametrize("secret", [None, ""])
@pytest.mark.parametrize("method", ["POST", "GET"])
async def test_without_a_configured_secret_the_endpoint_is_absent(
    secret: str | None, method: str
) -> None:
    recorder = Recorder()
    answer = await handle_revalidation(method, AUTH, body(tags=["a"]), secret, recorder)
    assert answer.status == 404 and recorder.applied == []


def test_only_post_is_allowed() -> None:
    answer = check(method="GET")
    assert answer.status == 405 and answer.headers["allow"] == "POST"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"authorization": ""},
        {"authorization": "Bearer"},
        {"authorization": "Bearer wrong"},
        {"authorization": f"Bearer {SECRET[:-1]}"},
        {"authorization": f"Bearer {SECRET}x"},
        {"authorization": f"Basic {SECRET}"},
        {"x-revalidate-secret": SECRET},
    ],
    ids=["none", "empty", "no token", "wrong", "prefix", "longer", "basic", "other header"],
)
async def test_a_missing_or_wrong_secret_is_refused_and_changes_nothing(
    headers: dict[str, str],
) -> None:
    recorder = Recorder()
    answer = await handle_revalidation("POST", headers, body(tags=["a"]), SECRET, recorder)
    assert answer.status == 401 and answer.headers["www-authenticate"] == "Bearer"
    assert "Authorization: Bearer" in error_of(answer) and recorder.applied == []


def test_the_scheme_and_header_name_are_case_insensitive() -> None:
    answer = check(headers={"Authorization": f"bearer {SECRET}"})
    assert answer.status == 200


def test_paths_are_normalized_to_route_keys_as_requests_are() -> None:
    answer = check(
        body(paths=["/blog/a/", "/blog/%61", "/blog/a.json", "/", "/index.json"]),
        site=SiteConfig(data_variant=True),
    )
    assert answer.status == 200 and answer.request is not None
    assert answer.request.paths == ("/blog/a", "/")
    assert json.loads(answer.body) == {
        "revalidated": True,
        "mode": "stale",
        "paths": ["/blog/a", "/"],
        "tags": [],
    }


def test_paths_carry_the_base_path_as_request_urls_do() -> None:
    answer = check(body(paths=["/docs/guide", "/docs"]), site=SiteConfig(base_path="/docs"))
    assert answer.request is not None and answer.request.paths == ("/guide", "/")
    refused = check(body(paths=["/guide"]), site=SiteConfig(base_path="/docs"))
    assert refused.status == 400 and "basePath '/docs'" in error_of(refused)


def test_the_mode_defaults_to_stale_and_may_be_expire() -> None:
    stale = check(body(tags=["posts"]))
    expire = check(body(tags=["posts", "posts"], mode="expire"))
    assert stale.request is not None and stale.request.mode is RevalidationMode.STALE
    assert expire.request == RevalidationRequest((), ("posts",), RevalidationMode.EXPIRE)


LIMITS = {
    "tag count": (body(tags=[f"t{i}" for i in range(MAX_TAGS + 1)]), f"limit of {MAX_TAGS}"),
    "tag length": (body(tags=["t" * (MAX_TAG_LENGTH + 1)]), f"1 to {MAX_TAG_LENGTH}"),
    "empty tag": (body(tags=[""]), f"1 to {MAX_TAG_LENGTH}"),
    "path count": (body(paths=[f"/p{i}" for i in range(MAX_PATHS + 1)]), f"limit of {MAX_PATHS}"),
    "path length": (body(paths=["/" + "a" * MAX_ROUTE_LENGTH]), f"limit of {MAX_ROUTE_LENGTH}"),
    "not json": (b"paths=/a", "UTF-8 JSON object"),
    "not utf-8": (b'{"tags": ["\xff"]}', "UTF-8 JSON object"),
    "not an object": (json.dumps(["/a"]).encode(), "JSON object"),
    "unknown field": (body(path=["/a"]), "unknown field 'path'"),
    "paths not a list": (body(paths="/a"), "paths: must be a list of strings"),
    "tags not strings": (body(tags=[1]), "tags: must be a list of strings"),
    "control character in a tag": (body(tags=["a\nb"]), "non-printable character"),
    "lone surrogate in a tag": (b'{"tags": ["\\ud800"]}', "lone surrogate"),
    "bad mode": (body(tags=["a"], mode="purge"), "'stale' or 'expire'"),
    "mode not a string": (body(tags=["a"], mode=["stale"]), "'stale' or 'expire'"),
    "nothing": (body(paths=[], tags=[]), "nothing to revalidate"),
    "query": (body(paths=["/blog/a?draft=1"]), "query or fragment"),
    "dot segment": (body(paths=["/blog/../admin"]), "not a page's URL path"),
    "relative": (body(paths=["blog/a"]), "must start with '/'"),
}


@pytest.mark.parametrize("payload, names", LIMITS.values(), ids=LIMITS.keys())
async def test_a_body_that_breaks_a_limit_is_refused_naming_it(payload: bytes, names: str) -> None:
    recorder = Recorder()
    answer = await handle_revalidation("POST", AUTH, payload, SECRET, recorder)
    assert answer.status == 400 and names in error_of(answer)
    assert recorder.applied == []


async def test_a_body_over_the_limit_is_refused_as_too_large() -> None:
    recorder = Recorder()
    payload = b" " * (MAX_BODY_BYTES + 1)
    answer = await handle_revalidation("POST", AUTH, payload, SECRET, recorder)
    assert answer.status == 413 and f"limit of {MAX_BODY_BYTES}" in error_of(answer)
    assert recorder.applied == []


class BodyReaderSpy:
    """A request body read on demand, as the Worker hands it over."""

    def __init__(self, payload: bytes) -> None:
        self.payload = payload
        self.limits: list[int] = []

    async def __call__(self, limit: int) -> bytes:
        self.limits.append(limit)
        if len(self.payload) > limit:
            raise BodyTooLarge(limit)
        return self.payload


@pytest.mark.parametrize(
    "method, headers, status",
    [
        ("POST", {"authorization": "Bearer wrong-secret"}, 401),
        ("POST", {}, 401),
        ("PUT", AUTH, 405),
        ("POST", {**AUTH, "content-length": str(MAX_BODY_BYTES + 1)}, 413),
    ],
)
async def test_a_request_is_refused_on_its_headers_before_its_body_is_read(
    method: str, headers: dict[str, str], status: int
) -> None:
    reader, recorder = BodyReaderSpy(body(tags=["a"])), Recorder()
    answer = await handle_revalidation(method, headers, reader, SECRET, recorder)
    assert answer.status == status and reader.limits == [] and recorder.applied == []
    assert refuse_on_headers(method, headers, SECRET) == answer


async def test_an_accepted_request_reads_its_body_no_further_than_the_limit() -> None:
    reader, recorder = BodyReaderSpy(body(tags=["a"])), Recorder()
    answer = await handle_revalidation("POST", AUTH, reader, SECRET, recorder)
    assert answer.status == 200 and reader.limits == [MAX_BODY_BYTES]
    assert refuse_on_headers("POST", AUTH, SECRET) is None
    endless = BodyReaderSpy(b" " * (MAX_BODY_BYTES + 1))  # no Content-Length: chunked
    refused = await handle_revalidation("POST", AUTH, endless, SECRET, recorder)
    assert refused.status == 413 and len(recorder.applied) == 1


def test_a_body_at_the_limits_is_accepted() -> None:
    answer = check(
        body(
            paths=["/" + "a" * (MAX_ROUTE_LENGTH - 1)] + [f"/p{i}" for i in range(MAX_PATHS - 1)],
            tags=["t" * MAX_TAG_LENGTH] + [f"t{i}" for i in range(MAX_TAGS - 1)],
        )
    )
    assert answer.status == 200


async def test_an_accepted_request_is_applied_once_and_answered_200() -> None:
    recorder = Recorder()
    answer = await handle_revalidation(
        "POST", AUTH, body(paths=["/a/"], tags=["x"]), SECRET, recorder
    )
    assert answer.status == 200 and answer.headers["cache-control"] == "no-store"
    assert recorder.applied == [RevalidationRequest(("/a",), ("x",), RevalidationMode.STALE)]


async def test_a_request_the_store_does_not_take_answers_503() -> None:
    answer = await handle_revalidation("POST", AUTH, body(tags=["x"]), SECRET, Recorder(False))
    assert answer.status == 503 and "retry" in error_of(answer)


async def test_an_accepted_request_reaches_the_tag_clock() -> None:
    clock, now = TagClock(SqliteD1()), 1_800_000_000.0
    page = CacheEntry(b"<p>", 200, {}, now - 60, tags=("posts",))

    async def apply(request: RevalidationRequest) -> bool:
        return await clock.revalidate(request.paths, request.tags, request.mode, now)

    payload = body(paths=["/about/"], tags=["posts"], mode="expire")
    answer = await handle_revalidation("POST", AUTH, payload, SECRET, apply)
    assert answer.status == 200
    assert clock.verdict(page, "/blog/a", now) is Verdict.EXPIRED
    assert clock.verdict(CacheEntry(b"", 200, {}, now - 60), "/about", now) is Verdict.EXPIRED


# --- the post-deploy step: {"deploy": true} -------------------------------------------


class DeployStep:
    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.runs = 0

    async def __call__(self) -> tuple[int, dict[str, Any]]:
        self.runs += 1
        if self.status == 503:
            return 503, {"error": "the build was not swept: D1 did not answer; retry"}
        return 200, {"deploy": True, "build": "b2", "d1": {"swapped": True, "previous": "b1"}}


DEPLOY_REFUSALS = {
    "false": (body(deploy=False), "deploy: false is not true"),
    "a string": (body(deploy="true"), 'deploy: "true" is not true'),
    "a number": (body(deploy=1), "deploy: 1 is not true"),
    "with tags": (body(deploy=True, tags=["posts"]), "'tags' is given with it"),
    "with empty paths": (body(deploy=True, paths=[]), "'paths' is given with it"),
    "with a mode": (body(deploy=True, mode="expire"), "'mode' is given with it"),
}


@pytest.mark.parametrize("payload, names", DEPLOY_REFUSALS.values(), ids=DEPLOY_REFUSALS.keys())
async def test_a_deploy_field_that_is_not_true_alone_is_refused_naming_the_fix(
    payload: bytes, names: str
) -> None:
    recorder, step = Recorder(), DeployStep()
    answer = await handle_revalidation("POST", AUTH, payload, SECRET, recorder, deploy=step)
    message = error_of(answer)
    assert answer.status == 400 and names in message and '{"deploy": true}' in message
    assert recorder.applied == [] and step.runs == 0 and not answer.deploy


async def test_a_deploy_request_runs_the_deploy_step_and_revalidates_nothing() -> None:
    recorder, step = Recorder(), DeployStep()
    answer = await handle_revalidation(
        "POST", AUTH, body(deploy=True), SECRET, recorder, deploy=step
    )
    assert answer.status == 200 and answer.deploy and step.runs == 1
    assert json.loads(answer.body)["d1"] == {"swapped": True, "previous": "b1"}
    assert recorder.applied == [] and answer.headers["cache-control"] == "no-store"


async def test_a_deploy_request_needs_the_secret_like_any_revalidation() -> None:
    step = DeployStep()
    wrong = {"authorization": "Bearer not-the-secret"}
    answer = await handle_revalidation(
        "POST", wrong, body(deploy=True), SECRET, Recorder(), deploy=step
    )
    assert answer.status == 401 and step.runs == 0


async def test_a_deploy_step_that_could_not_read_d1_answers_503_with_retry_after() -> None:
    answer = await handle_revalidation(
        "POST", AUTH, body(deploy=True), SECRET, Recorder(), deploy=DeployStep(503)
    )
    assert answer.status == 503 and answer.headers["retry-after"] == "5"
    assert "retry" in error_of(answer)


async def test_an_endpoint_with_no_deploy_step_answers_that_no_edge_is_swept() -> None:
    answer = await handle_revalidation("POST", AUTH, body(deploy=True), SECRET, Recorder())
    assert answer.status == 200 and answer.deploy
    assert json.loads(answer.body) == {"deploy": True, "edge": {"enabled": False}}
