"""Tags the edge can purge: what a page is sent with in `Cache-Tag` and what a purge
names are one spelling, within the edge's rules, and the build refuses what the edge
would drop."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from seeding.build.prerender import ExitCode, write_build
from seeding.edge.tags import (
    MAX_EDGE_TAG_LENGTH,
    EdgeTagError,
    build_tag,
    cache_tag_header,
    check_page_tags,
    edge_tag,
    path_tag,
)
from seeding.schema import MAX_TAG_LENGTH, MAX_TAGS
from tests.unit.fakes import FakeClock, FakeSite


def printable_ascii(tag: str) -> bool:
    return all(0x21 <= ord(c) <= 0x7E for c in tag) and "," not in tag


def test_a_plain_tag_reaches_the_edge_as_it_is_in_lower_case() -> None:
    assert edge_tag("posts") == "posts"
    assert edge_tag("Post:Hello-World") == "post:hello-world"


def test_tags_differing_only_in_case_are_one_tag_everywhere() -> None:
    assert edge_tag("Posts") == edge_tag("posts") == edge_tag("POSTS")


@pytest.mark.parametrize("tag", ["a b", "a,b", "café", "日本語", "100%", "tab\there", "ü" * 80])
def test_a_tag_the_edge_would_drop_is_encoded_into_printable_ascii(tag: str) -> None:
    encoded = edge_tag(tag)
    assert printable_ascii(encoded) and len(encoded) <= MAX_EDGE_TAG_LENGTH
    check_page_tags([tag])  # the build takes it


def test_encoding_keeps_distinct_tags_distinct() -> None:
    # "%" is escaped too, so a tag spelling an escape cannot meet the tag it spells.
    assert edge_tag("a,b") != edge_tag("a%2cb")
    assert edge_tag("a b") != edge_tag("a+b")


def test_a_tag_too_long_once_encoded_is_refused_with_the_tag_and_the_fix() -> None:
    tag = "日" * MAX_TAG_LENGTH  # within the project's 256 characters, 2304 encoded
    with pytest.raises(EdgeTagError) as refused:
        check_page_tags(["ok", tag])
    message = str(refused.value)
    assert repr(tag[:60]) in message and "shorten it" in message
    assert str(MAX_EDGE_TAG_LENGTH) in message


def test_at_run_time_a_tag_too_long_becomes_a_digest_and_is_never_dropped() -> None:
    tag = "日" * MAX_TAG_LENGTH
    encoded = edge_tag(tag)
    assert encoded.startswith("~sha256:") and printable_ascii(encoded)
    assert edge_tag(tag) == encoded  # the purge names it the same way
    assert edge_tag(tag.upper()) == encoded


def test_both_variants_and_every_spelling_of_a_route_share_its_path_tag() -> None:
    # The route key is what the .json variant and a request with a query resolve to.
    assert path_tag("/blog/hello") == "path:/blog/hello"
    assert printable_ascii(path_tag("/blog/héllo wörld"))
    assert path_tag("/blog/a") != path_tag("/blog/about")


def test_a_page_is_sent_with_its_own_tags_its_path_and_its_build() -> None:
    header = cache_tag_header(("posts", "Post:A"), "/blog/a", "b1")
    assert header.split(",") == ["posts", "post:a", "path:/blog/a", build_tag("b1")]


def test_the_most_tags_a_page_may_have_fit_the_edge_limits() -> None:
    tags = [f"t{n:03d}" + "x" * (MAX_TAG_LENGTH - 4) for n in range(MAX_TAGS)]
    names = cache_tag_header(tags, "/" + "r" * 1000, "b" * 40).split(",")
    assert len(names) == MAX_TAGS + 2 <= 1000
    assert all(printable_ascii(n) and len(n) <= MAX_EDGE_TAG_LENGTH for n in names)


class TaggedSite(FakeSite):
    def __init__(self, tag: str) -> None:
        super().__init__()
        self.tag = tag

    async def render(self, request):  # type: ignore[no-untyped-def]
        result = await super().render(request)
        if request.route == "/blog/first":
            object.__setattr__(result, "tags", (*result.tags, self.tag))
        return result


def test_the_build_refuses_a_route_whose_tag_the_edge_would_drop(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines: list[str] = []
    site = TaggedSite("日" * 200)
    code = asyncio.run(write_build(site, tmp_path / "out", clock=FakeClock(), say=lines.append))
    assert code is ExitCode.ROUTE_FAILED
    failed = [line for line in lines if "/blog/first" in line and "ERROR" in line]
    assert failed and "Cache-Tag" in failed[0] and "shorten it" in failed[0]


def test_the_build_takes_a_tag_it_can_encode(tmp_path: Path) -> None:
    site = TaggedSite("Ünïcode tag, with comma")
    code = asyncio.run(write_build(site, tmp_path / "out", clock=FakeClock(), say=lambda _: None))
    assert code is ExitCode.OK
