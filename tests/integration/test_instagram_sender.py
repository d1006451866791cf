"""InstagramSender over real HTTP against a fake Instagram Graph API on loopback."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

from dmpilot.channels.instagram_api import InstagramSender
from dmpilot.domain.delivery import DeliveryKind, OutboundDelivery, SendResult, SendStatus
from fakes.graph_api import Behaviour, FakeGraphAPI
from support import free_port

TOKEN = "IGAAtestS3cretInstagramToken0123456789"
ACCOUNT = "17841400000000042"
CONTACT = "1535148674817116"


@pytest.fixture(scope="module")
def server() -> Iterator[FakeGraphAPI]:
    with FakeGraphAPI(
        access_token=TOKEN, account_id=ACCOUNT, username="lena.presets"
    ).serve() as fake:
        yield fake


@pytest.fixture
def fake(server: FakeGraphAPI) -> FakeGraphAPI:
    server.reset()
    server.on_send = None
    return server


@asynccontextmanager
async def opened(
    graph_url: str, token: str = TOKEN, account_id: str = ACCOUNT, **options: Any
) -> AsyncIterator[InstagramSender]:
    """A sender with a short timeout, closed when the block ends."""
    sender = InstagramSender(token, account_id, graph_url=graph_url, timeout_seconds=0.5, **options)
    try:
        yield sender
    finally:
        await sender.aclose()


@pytest.fixture
async def sender(fake: FakeGraphAPI) -> AsyncIterator[InstagramSender]:
    async with opened(fake.url) as ready:
        yield ready


class Sleeps:
    """An injected sleep: records how long, and what the fake had received by then."""

    def __init__(self, fake: FakeGraphAPI) -> None:
        self.fake = fake
        self.calls: list[tuple[float, list[str]]] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append((seconds, self.fake.calls(CONTACT)))


def delivery(recipient: str = CONTACT, text: str = "hey, where are you from?") -> OutboundDelivery:
    return OutboundDelivery(
        id=1,
        channel="instagram",
        contact_id=7,
        recipient=recipient,
        text=text,
        kind=DeliveryKind.REPLY,
        attempts=1,
    )


def assert_clean(result: SendResult) -> None:
    """The token is nowhere in what the worker would log and store."""
    assert TOKEN not in repr(result)
    assert result.error is None or ("\n" not in result.error and len(result.error) <= 500)


# -- sent --------------------------------------------------------------------------------


async def test_a_success_answer_is_sent_with_metas_message_id_and_one_dm_went_out(
    sender: InstagramSender, fake: FakeGraphAPI
) -> None:
    result = await sender.send(delivery(text="hello from lyon"))

    assert result.status is SendStatus.SENT
    assert result.error is None and result.pause_account is False
    [sent] = fake.sends
    assert result.provider_message_id == sent["message_id"]
    assert fake.delivered_texts(CONTACT) == ["hello from lyon"]
    assert len(fake.message_requests()) == 1


async def test_the_request_carries_the_bearer_token_and_only_recipient_and_text(
    sender: InstagramSender, fake: FakeGraphAPI
) -> None:
    await sender.send(delivery(text="hi"))

    [request] = fake.message_requests()
    assert request["path"] == f"/v25.0/{ACCOUNT}/messages"
    assert request["headers"]["authorization"] == f"Bearer {TOKEN}"
    # Never in the query string, where proxies and access logs would keep it.
    assert request["query"] == {}
    assert request["body"] == {"recipient": {"id": CONTACT}, "message": {"text": "hi"}}


async def test_every_sent_dm_gets_its_own_message_id(
    sender: InstagramSender, fake: FakeGraphAPI
) -> None:
    first = await sender.send(delivery(text="one"))
    second = await sender.send(delivery(text="two"))

    assert first.provider_message_id and second.provider_message_id
    assert first.provider_message_id != second.provider_message_id


async def test_an_answer_slower_than_usual_but_inside_the_timeout_is_still_sent(
    sender: InstagramSender, fake: FakeGraphAPI
) -> None:
    fake.queue("slow:0.2")

    assert (await sender.send(delivery())).status is SendStatus.SENT


async def test_a_text_of_exactly_1000_utf8_bytes_is_sent(
    sender: InstagramSender, fake: FakeGraphAPI
) -> None:
    text = "é" * 500  # 500 characters, 1000 bytes

    assert (await sender.send(delivery(text=text))).status is SendStatus.SENT
    assert fake.delivered_texts(CONTACT) == [text]


# -- too long: never sent ----------------------------------------------------------------


@pytest.mark.parametrize("typing_seconds", [0.0, 2.0])
async def test_a_text_over_1000_utf8_bytes_fails_without_any_request(
    fake: FakeGraphAPI, typing_seconds: float
) -> None:
    sleeps = Sleeps(fake)
    text = "a" * 999 + "é"  # 1000 characters, 1001 bytes
    async with opened(fake.url, typing_seconds=typing_seconds, sleep=sleeps) as sender:
        result = await sender.send(delivery(text=text))

    assert result.status is SendStatus.FAILED
    assert result.error is not None and "1001 bytes" in result.error
    assert result.pause_account is False
    assert fake.requests == [] and sleeps.calls == []


# -- the token: failed, and the account paused ---------------------------------------------


async def test_a_refused_token_fails_pauses_the_account_and_never_shows_either_token(
    fake: FakeGraphAPI,
) -> None:
    wrong = "IGAAwrongInstagramTokenValue987654"
    async with opened(fake.url, token=wrong) as sender:
        result = await sender.send(delivery())

    assert result.status is SendStatus.FAILED
    assert result.pause_account is True
    assert result.error is not None
    assert "400" in result.error and "code 190" in result.error
    assert "OAuthException" in result.error
    assert wrong not in result.error and TOKEN not in result.error
    assert fake.sends == []


async def test_an_expired_token_fails_and_pauses_the_account(
    sender: InstagramSender, fake: FakeGraphAPI
) -> None:
    fake.queue("error:190:463")

    result = await sender.send(delivery())

    assert (result.status, result.pause_account) == (SendStatus.FAILED, True)
    assert result.error is not None and "Session has expired" in result.error
    assert_clean(result)


async def test_a_token_httpx_cannot_put_in_a_header_fails_and_is_masked_in_the_error(
    fake: FakeGraphAPI,
) -> None:
    broken = "IGAAbrokenToken\nWithANewline0123"
    async with opened(fake.url, token=broken) as sender:
        result = await sender.send(delivery())

    assert result.status is SendStatus.FAILED
    assert result.error is not None
    assert "IGAAbrokenToken" not in result.error and "WithANewline0123" not in result.error
    assert fake.requests == []


# -- rate limits: retried ----------------------------------------------------------------


@pytest.mark.parametrize("code", [4, 17, 32, 613, 80002])
async def test_metas_rate_limit_codes_are_retried(
    sender: InstagramSender, fake: FakeGraphAPI, code: int
) -> None:
    fake.queue(f"error:{code}")

    result = await sender.send(delivery())

    assert result.status is SendStatus.RETRY
    assert result.error is not None and f"code {code}" in result.error
    assert result.error.startswith("Instagram rate limit")
    assert fake.sends == []


async def test_a_429_is_retried_after_the_seconds_meta_asked_for(
    sender: InstagramSender, fake: FakeGraphAPI
) -> None:
    fake.queue("status:429:7")

    result = await sender.send(delivery())

    assert result.status is SendStatus.RETRY
    assert result.retry_after_seconds == 7.0
    assert result.error is not None and "429" in result.error


async def test_a_429_with_an_http_date_is_retried_after_the_remaining_seconds(
    sender: InstagramSender, fake: FakeGraphAPI
) -> None:
    later = datetime.now(UTC) + timedelta(seconds=30)
    fake.queue(f"status:429:{format_datetime(later, usegmt=True)}")

    result = await sender.send(delivery())

    assert result.status is SendStatus.RETRY
    assert result.retry_after_seconds is not None
    assert 25 <= result.retry_after_seconds <= 31


async def test_a_429_without_retry_after_is_retried_on_the_workers_own_backoff(
    sender: InstagramSender, fake: FakeGraphAPI
) -> None:
    fake.queue("status:429")

    result = await sender.send(delivery())

    assert (result.status, result.retry_after_seconds) == (SendStatus.RETRY, None)


async def test_a_temporary_send_failure_is_retried(
    sender: InstagramSender, fake: FakeGraphAPI
) -> None:
    fake.queue("error:1200")

    result = await sender.send(delivery())

    assert result.status is SendStatus.RETRY
    assert result.error is not None and "Temporary send message failure" in result.error


# -- this contact only: failed at once, the account goes on --------------------------------


@pytest.mark.parametrize("spec", ["error:10:2534022", "error:10:2018278"])
async def test_outside_the_messaging_window_fails_at_once_without_pausing(
    sender: InstagramSender, fake: FakeGraphAPI, spec: str
) -> None:
    fake.queue(spec)

    result = await sender.send(delivery())

    assert (result.status, result.pause_account) == (SendStatus.FAILED, False)
    assert result.error is not None
    assert result.error.startswith("outside Instagram's 24-hour messaging window (403)")
    assert "outside of allowed window" in result.error
    assert fake.sends == []


async def test_a_window_refusal_with_a_subcode_not_seen_before_is_read_from_metas_words(
    sender: InstagramSender, fake: FakeGraphAPI
) -> None:
    fake.queue(
        Behaviour(
            "error",
            status=403,
            code=10,
            subcode=2534099,
            message="This message is sent outside of allowed window.",
        )
    )

    result = await sender.send(delivery())

    assert (result.status, result.pause_account) == (SendStatus.FAILED, False)
    assert result.error is not None and "messaging window" in result.error


@pytest.mark.parametrize(
    "spec",
    [
        "error:551",
        "error:551:1545041",
        "error:100:2534014",
        "error:100:2018001",
        "error:200:1545041",
        "error:10903",
    ],
)
async def test_a_user_who_cannot_be_reached_fails_at_once_without_pausing(
    sender: InstagramSender, fake: FakeGraphAPI, spec: str
) -> None:
    fake.queue(spec)

    result = await sender.send(delivery())

    assert (result.status, result.pause_account) == (SendStatus.FAILED, False)
    assert result.error is not None and result.error.startswith("Instagram user unavailable")
    assert fake.sends == []


async def test_a_recipient_meta_refuses_as_a_parameter_fails_with_metas_reason(
    sender: InstagramSender, fake: FakeGraphAPI
) -> None:
    result = await sender.send(delivery(recipient=" "))

    assert (result.status, result.pause_account) == (SendStatus.FAILED, False)
    assert result.error is not None
    assert "400" in result.error and "(#100)" in result.error and "recipient" in result.error


# -- the whole account: failed, and paused -------------------------------------------------


@pytest.mark.parametrize(
    "spec", ["error:10", "error:10:2207050", "error:200", "error:230", "error:3", "error:368"]
)
async def test_an_account_level_refusal_fails_and_pauses_the_account(
    sender: InstagramSender, fake: FakeGraphAPI, spec: str
) -> None:
    fake.queue(spec)

    result = await sender.send(delivery())

    assert (result.status, result.pause_account) == (SendStatus.FAILED, True)
    assert result.error is not None and result.error.startswith("Instagram refused the account")
    assert fake.sends == []


# -- server errors -------------------------------------------------------------------------


@pytest.mark.parametrize("code", [502, 503, 504])
async def test_gateway_and_unavailable_errors_are_retried(
    sender: InstagramSender, fake: FakeGraphAPI, code: int
) -> None:
    fake.queue(f"status:{code}:3")

    result = await sender.send(delivery())

    assert result.status is SendStatus.RETRY
    assert result.retry_after_seconds == 3.0
    assert result.error is not None and str(code) in result.error
    assert fake.sends == []


@pytest.mark.parametrize("spec", ["status:500", "status:501", "error:1", "error:2", "error:2::400"])
async def test_other_server_errors_and_metas_unexplained_errors_are_unknown(
    sender: InstagramSender, fake: FakeGraphAPI, spec: str
) -> None:
    fake.queue(spec)

    result = await sender.send(delivery())

    assert result.status is SendStatus.UNKNOWN
    assert result.pause_account is False


@pytest.mark.parametrize("spec", ["status:400", "status:404", "error:100", "error:2500"])
async def test_other_refusals_fail(sender: InstagramSender, fake: FakeGraphAPI, spec: str) -> None:
    fake.queue(spec)

    result = await sender.send(delivery())

    assert (result.status, result.pause_account) == (SendStatus.FAILED, False)
    assert result.error is not None and result.error.startswith("Instagram refused (")


async def test_a_redirect_is_not_followed_and_fails(
    sender: InstagramSender, fake: FakeGraphAPI
) -> None:
    fake.queue("status:302")

    result = await sender.send(delivery())

    assert result.status is SendStatus.FAILED
    assert result.error is not None and "302" in result.error
    assert len(fake.requests) == 1


async def test_a_wrong_account_id_fails_with_metas_unsupported_request(
    fake: FakeGraphAPI,
) -> None:
    async with opened(fake.url, account_id="17841499999999999") as sender:
        result = await sender.send(delivery())

    assert result.status is SendStatus.FAILED
    assert result.error is not None and "17841499999999999" in result.error
    assert fake.sends == []


async def test_a_wrong_address_answering_404_fails(fake: FakeGraphAPI) -> None:
    async with opened(f"{fake.root}/v1.0") as sender:
        result = await sender.send(delivery())

    assert result.status is SendStatus.FAILED
    assert result.error is not None and "404" in result.error


# -- transport -------------------------------------------------------------------------------


async def test_a_refused_connection_is_retried_because_nothing_left() -> None:
    async with opened(f"http://127.0.0.1:{free_port()}/v25.0") as sender:
        result = await sender.send(delivery())

    assert result.status is SendStatus.RETRY
    assert result.error is not None and "ConnectError" in result.error
    assert_clean(result)


async def test_a_graph_url_without_http_fails_for_good() -> None:
    async with opened("graph.instagram.com/v25.0") as sender:
        result = await sender.send(delivery())

    assert result.status is SendStatus.FAILED
    assert_clean(result)


async def test_a_timeout_after_the_request_reached_meta_is_unknown(
    sender: InstagramSender, fake: FakeGraphAPI
) -> None:
    fake.queue("timeout")

    result = await sender.send(delivery(text="only once please"))

    assert result.status is SendStatus.UNKNOWN
    assert result.error is not None and "ReadTimeout" in result.error
    # Meta did get it (and sent the DM): a retry here would be a duplicate.
    assert len(fake.message_requests()) == 1
    assert fake.delivered_texts(CONTACT) == ["only once please"]


async def test_a_connection_dropped_without_an_answer_is_unknown(
    sender: InstagramSender, fake: FakeGraphAPI
) -> None:
    fake.queue("drop")

    result = await sender.send(delivery())

    assert result.status is SendStatus.UNKNOWN
    assert result.error is not None and "RemoteProtocolError" in result.error
    assert len(fake.message_requests()) == 1


@pytest.mark.parametrize("spec", ["not_json", "no_id"])
async def test_a_200_without_a_message_id_is_unknown(
    sender: InstagramSender, fake: FakeGraphAPI, spec: str
) -> None:
    fake.queue(spec)

    result = await sender.send(delivery())

    assert result.status is SendStatus.UNKNOWN
    assert result.error is not None and "without a message_id" in result.error


async def test_the_sender_keeps_working_after_a_dropped_connection(
    sender: InstagramSender, fake: FakeGraphAPI
) -> None:
    fake.queue("drop", "success")

    first = await sender.send(delivery(text="one"))
    second = await sender.send(delivery(text="two"))

    assert (first.status, second.status) == (SendStatus.UNKNOWN, SendStatus.SENT)
    assert fake.delivered_texts(CONTACT) == ["two"]


async def test_no_outcome_shows_the_token(fake: FakeGraphAPI) -> None:
    specs = [
        "success",
        "error:190",
        "error:613",
        "error:10:2534022",
        "error:551",
        "error:200",
        "error:2",
        "status:503",
        "status:500",
        "status:400",
        "drop",
        "not_json",
    ]
    fake.queue(*specs)
    async with opened(fake.url) as sender:
        results = [await sender.send(delivery()) for _ in specs]

    for result in results:
        assert_clean(result)
    assert all(TOKEN not in str(r["query"]) for r in fake.requests)


# -- the human touch: seen, typing, a moment, then the message ------------------------------


async def test_with_typing_the_dm_follows_mark_seen_typing_on_and_the_pause(
    fake: FakeGraphAPI,
) -> None:
    sleeps = Sleeps(fake)
    async with opened(fake.url, typing_seconds=2.5, sleep=sleeps) as sender:
        result = await sender.send(delivery(text="typed by hand"))

    assert result.status is SendStatus.SENT
    assert fake.calls(CONTACT) == ["mark_seen", "typing_on", "message"]
    # The pause came after both sender actions and before the message.
    assert sleeps.calls == [(2.5, ["mark_seen", "typing_on"])]
    assert fake.sender_actions(CONTACT) == ["mark_seen", "typing_on"]
    assert [r["body"] for r in fake.message_requests()[:2]] == [
        {"recipient": {"id": CONTACT}, "sender_action": "mark_seen"},
        {"recipient": {"id": CONTACT}, "sender_action": "typing_on"},
    ]
    assert all(r["headers"]["authorization"] == f"Bearer {TOKEN}" for r in fake.message_requests())
    assert fake.delivered_texts(CONTACT) == ["typed by hand"]


async def test_without_typing_only_the_message_is_posted_and_nothing_waits(
    fake: FakeGraphAPI,
) -> None:
    sleeps = Sleeps(fake)
    async with opened(fake.url, sleep=sleeps) as sender:
        await sender.send(delivery())

    assert fake.calls(CONTACT) == ["message"]
    assert sleeps.calls == []


async def test_failed_sender_actions_never_stop_or_fail_the_message(
    fake: FakeGraphAPI, caplog: pytest.LogCaptureFixture
) -> None:
    fake.queue("error:190", "status:503", "success")
    sleeps = Sleeps(fake)
    with caplog.at_level(logging.DEBUG, logger="dmpilot"):
        async with opened(fake.url, typing_seconds=1.0, sleep=sleeps) as sender:
            result = await sender.send(delivery(text="still here"))

    assert result.status is SendStatus.SENT
    assert fake.sender_actions(CONTACT) == []
    assert fake.delivered_texts(CONTACT) == ["still here"]
    assert [seconds for seconds, _ in sleeps.calls] == [1.0]
    assert "mark_seen" in caplog.text and "typing_on" in caplog.text
    assert TOKEN not in caplog.text


async def test_sender_actions_lost_in_transit_never_stop_the_message(
    fake: FakeGraphAPI,
) -> None:
    fake.queue("timeout", "drop", "success")
    async with opened(fake.url, typing_seconds=1.0, sleep=Sleeps(fake)) as sender:
        result = await sender.send(delivery(text="here anyway"))

    assert result.status is SendStatus.SENT
    assert fake.calls(CONTACT) == ["mark_seen", "typing_on", "message"]
    assert fake.delivered_texts(CONTACT) == ["here anyway"]


async def test_with_meta_unreachable_the_typing_attempts_end_in_a_retry(
    fake: FakeGraphAPI,
) -> None:
    async with opened(
        f"http://127.0.0.1:{free_port()}/v25.0", typing_seconds=1.0, sleep=Sleeps(fake)
    ) as sender:
        result = await sender.send(delivery())

    assert result.status is SendStatus.RETRY


# -- the probe -----------------------------------------------------------------------------


async def test_the_probe_says_nothing_when_the_token_belongs_to_the_account(
    sender: InstagramSender, fake: FakeGraphAPI
) -> None:
    assert await sender.probe() is None

    [request] = fake.requests
    assert (request["method"], request["path"]) == ("GET", "/v25.0/me")
    assert request["query"] == {"fields": "user_id,username"}
    assert request["headers"]["authorization"] == f"Bearer {TOKEN}"


async def test_the_probe_explains_a_refused_token_without_showing_it(
    fake: FakeGraphAPI,
) -> None:
    wrong = "IGAAwrongInstagramTokenValue987654"
    async with opened(fake.url, token=wrong) as sender:
        problem = await sender.probe()

    assert problem is not None
    assert problem.startswith("Instagram refused the access token (400)")
    assert "generate a new token in the Meta app dashboard" in problem
    assert wrong not in problem and "\n" not in problem


async def test_the_probe_names_both_ids_when_the_token_is_another_accounts(
    fake: FakeGraphAPI,
) -> None:
    async with opened(fake.url, account_id="17841499999999999") as sender:
        problem = await sender.probe()

    assert problem is not None
    assert ACCOUNT in problem and "17841499999999999" in problem
    assert "@lena.presets" in problem and "DMPILOT_META_ACCOUNT_ID" in problem


async def test_the_probe_compares_user_id_not_the_app_scoped_id(fake: FakeGraphAPI) -> None:
    async with opened(fake.url, account_id=fake.app_scoped_id) as sender:
        problem = await sender.probe()

    assert problem is not None and ACCOUNT in problem


async def test_the_probe_explains_an_unreachable_graph_api() -> None:
    url = f"http://127.0.0.1:{free_port()}/v25.0"
    async with opened(url) as sender:
        problem = await sender.probe()

    assert problem is not None
    assert problem.startswith(f"cannot reach the Instagram Graph API at {url}")


# -- the fake speaks Meta's format ----------------------------------------------------------


async def test_the_fake_refuses_what_meta_refuses(fake: FakeGraphAPI) -> None:
    url = f"{fake.url}/{ACCOUNT}/messages"
    auth = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient() as client:
        too_long = await client.post(
            url, json={"recipient": {"id": CONTACT}, "message": {"text": "x" * 1001}}, headers=auth
        )
        no_token = await client.post(
            url, json={"recipient": {"id": CONTACT}, "message": {"text": "hi"}}
        )
        bad_action = await client.post(
            url, json={"recipient": {"id": CONTACT}, "sender_action": "wave"}, headers=auth
        )

    assert too_long.status_code == 400 and too_long.json()["error"]["code"] == 100
    assert no_token.status_code == 400
    assert no_token.json()["error"]["type"] == "OAuthException"
    assert no_token.json()["error"]["code"] == 190
    assert bad_action.status_code == 400
    assert fake.sends == [] and fake.actions == []


async def test_the_fake_tells_on_send_about_each_dm_as_it_goes_out(
    sender: InstagramSender, fake: FakeGraphAPI
) -> None:
    seen: list[dict[str, Any]] = []
    fake.on_send = seen.append

    result = await sender.send(delivery(text="echo me"))

    [sent] = seen
    assert sent["message_id"] == result.provider_message_id
    assert (sent["sender"], sent["recipient"], sent["text"]) == (ACCOUNT, CONTACT, "echo me")
