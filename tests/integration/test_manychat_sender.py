"""ManyChatSender over real HTTP against a fake ManyChat Public API on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from dmpilot.channels.manychat_api import ManyChatSender, retry_after_seconds
from dmpilot.domain.delivery import DeliveryKind, OutboundDelivery, SendStatus
from fakes.manychat_api import FakeManyChat
from support import free_port

KEY = "4242:s3cret-manychat-key"


@pytest.fixture(scope="module")
def server() -> Iterator[FakeManyChat]:
    with FakeManyChat(api_key=KEY).serve() as fake:
        yield fake


@pytest.fixture
def fake(server: FakeManyChat) -> FakeManyChat:
    server.reset()
    return server


@asynccontextmanager
async def opened(key: str, base_url: str) -> AsyncIterator[ManyChatSender]:
    """A sender with a short timeout, closed when the block ends."""
    sender = ManyChatSender(key, base_url=base_url, timeout_seconds=0.5)
    try:
        yield sender
    finally:
        await sender.aclose()


@pytest.fixture
async def sender(fake: FakeManyChat) -> AsyncIterator[ManyChatSender]:
    async with opened(KEY, fake.url) as ready:
        yield ready


def delivery(
    recipient: str = "987654321", text: str = "hey, where are you from?"
) -> OutboundDelivery:
    return OutboundDelivery(
        id=1,
        channel="manychat",
        contact_id=7,
        recipient=recipient,
        text=text,
        kind=DeliveryKind.REPLY,
        attempts=1,
    )


# -- sent --------------------------------------------------------------------------------


async def test_a_success_answer_is_sent_and_manychat_got_exactly_one_dm(
    sender: ManyChatSender, fake: FakeManyChat
) -> None:
    result = await sender.send(delivery(text="hello from lyon"))

    assert result.status is SendStatus.SENT
    assert result.error is None
    assert fake.delivered_texts(987654321) == ["hello from lyon"]
    assert len(fake.send_requests()) == 1


async def test_the_request_carries_the_bearer_key_and_an_instagram_dynamic_block(
    sender: ManyChatSender, fake: FakeManyChat
) -> None:
    await sender.send(delivery(text="hi"))

    [request] = fake.send_requests()
    assert request["headers"]["authorization"] == f"Bearer {KEY}"
    assert request["body"] == {
        "subscriber_id": 987654321,
        "data": {
            "version": "v2",
            "content": {
                "type": "instagram",
                "messages": [{"type": "text", "text": "hi"}],
                "actions": [],
                "quick_replies": [],
            },
        },
    }


async def test_a_numeric_subscriber_id_goes_out_as_a_json_number_and_no_message_tag_is_sent(
    sender: ManyChatSender, fake: FakeManyChat
) -> None:
    await sender.send(delivery(recipient="123"))

    [request] = fake.send_requests()
    assert request["body"]["subscriber_id"] == 123
    assert type(request["body"]["subscriber_id"]) is int
    assert "message_tag" not in request["body"]


async def test_an_answer_slower_than_usual_but_inside_the_timeout_is_still_sent(
    sender: ManyChatSender, fake: FakeManyChat
) -> None:
    fake.queue("slow:0.2")

    assert (await sender.send(delivery())).status is SendStatus.SENT


# -- failed ------------------------------------------------------------------------------


async def test_a_200_with_status_error_fails_with_manychats_message_and_code(
    sender: ManyChatSender, fake: FakeManyChat
) -> None:
    fake.queue("error")

    result = await sender.send(delivery())

    assert result.status is SendStatus.FAILED
    assert result.error is not None
    assert "Subscriber does not exist" in result.error and "2011" in result.error
    assert fake.sends == []


async def test_a_400_fails_with_the_status_and_manychats_reason(
    sender: ManyChatSender, fake: FakeManyChat
) -> None:
    fake.queue("status:400")

    result = await sender.send(delivery())

    assert result.status is SendStatus.FAILED
    assert result.error is not None and "400" in result.error
    assert "Fake ManyChat error 400" in result.error


async def test_a_subscriber_id_manychat_cannot_read_fails_with_its_validation_details(
    sender: ManyChatSender, fake: FakeManyChat
) -> None:
    result = await sender.send(delivery(recipient="ig_sam"))

    assert result.status is SendStatus.FAILED
    assert result.error is not None
    assert "400" in result.error and "subscriber_id" in result.error
    assert fake.send_requests()[0]["body"]["subscriber_id"] == "ig_sam"


async def test_a_wrong_key_fails_and_neither_key_appears_in_the_error(
    fake: FakeManyChat,
) -> None:
    wrong = "4242:wrong-secret-value"
    async with opened(wrong, fake.url) as sender:
        result = await sender.send(delivery())

    assert result.status is SendStatus.FAILED
    assert result.error is not None
    assert "401" in result.error and "Wrong format token" in result.error
    assert wrong not in result.error and "wrong-secret-value" not in result.error
    assert KEY not in result.error
    assert fake.sends == []


async def test_a_wrong_address_answering_404_fails(fake: FakeManyChat) -> None:
    async with opened(KEY, f"{fake.url}/not-manychat") as sender:
        result = await sender.send(delivery())

    assert result.status is SendStatus.FAILED
    assert result.error is not None and "404" in result.error


# -- retry -------------------------------------------------------------------------------


async def test_a_429_is_retried_after_the_seconds_manychat_asked_for(
    sender: ManyChatSender, fake: FakeManyChat
) -> None:
    fake.queue("status:429:7")

    result = await sender.send(delivery())

    assert result.status is SendStatus.RETRY
    assert result.retry_after_seconds == 7.0
    assert result.error is not None and "429" in result.error
    assert fake.sends == []


async def test_a_429_with_an_http_date_retry_after_is_retried_after_the_remaining_seconds(
    sender: ManyChatSender, fake: FakeManyChat
) -> None:
    later = datetime.now(UTC) + timedelta(seconds=30)
    fake.queue(f"status:429:{format_datetime(later, usegmt=True)}")

    result = await sender.send(delivery())

    assert result.status is SendStatus.RETRY
    assert result.retry_after_seconds is not None
    assert 25 <= result.retry_after_seconds <= 31


async def test_a_429_without_retry_after_is_retried_on_the_workers_own_backoff(
    sender: ManyChatSender, fake: FakeManyChat
) -> None:
    fake.queue("status:429")

    result = await sender.send(delivery())

    assert result.status is SendStatus.RETRY
    assert result.retry_after_seconds is None


@pytest.mark.parametrize("code", [500, 502, 503, 504, 408, 409])
async def test_server_errors_and_try_again_codes_are_retried(
    sender: ManyChatSender, fake: FakeManyChat, code: int
) -> None:
    fake.queue(f"status:{code}")

    result = await sender.send(delivery())

    assert result.status is SendStatus.RETRY
    assert result.error is not None and str(code) in result.error
    assert fake.sends == []


async def test_a_refused_connection_is_retried_because_nothing_left(fake: FakeManyChat) -> None:
    async with opened(KEY, f"http://127.0.0.1:{free_port()}") as sender:
        result = await sender.send(delivery())

    assert result.status is SendStatus.RETRY
    assert result.error is not None and "ConnectError" in result.error
    assert KEY not in result.error


# -- unknown -----------------------------------------------------------------------------


async def test_a_timeout_after_the_request_reached_manychat_is_unknown(
    sender: ManyChatSender, fake: FakeManyChat
) -> None:
    fake.queue("timeout")

    result = await sender.send(delivery(text="only once please"))

    assert result.status is SendStatus.UNKNOWN
    assert result.error is not None and "ReadTimeout" in result.error
    # ManyChat did get it (and sent the DM): a retry here would be a duplicate.
    assert len(fake.send_requests()) == 1
    assert fake.delivered_texts(987654321) == ["only once please"]


async def test_a_connection_dropped_without_an_answer_is_unknown(
    sender: ManyChatSender, fake: FakeManyChat
) -> None:
    fake.queue("drop")

    result = await sender.send(delivery())

    assert result.status is SendStatus.UNKNOWN
    assert result.error is not None and "RemoteProtocolError" in result.error
    assert len(fake.send_requests()) == 1


async def test_a_200_that_is_not_json_is_unknown(
    sender: ManyChatSender, fake: FakeManyChat
) -> None:
    fake.queue("not_json")

    result = await sender.send(delivery())

    assert result.status is SendStatus.UNKNOWN
    assert result.error is not None and "upstream hiccup" in result.error


async def test_a_200_json_without_a_status_is_unknown(
    sender: ManyChatSender, fake: FakeManyChat
) -> None:
    fake.queue("no_status")

    assert (await sender.send(delivery())).status is SendStatus.UNKNOWN


async def test_the_sender_keeps_working_after_a_dropped_connection(
    sender: ManyChatSender, fake: FakeManyChat
) -> None:
    fake.queue("drop", "success")

    first = await sender.send(delivery(text="one"))
    second = await sender.send(delivery(text="two"))

    assert (first.status, second.status) == (SendStatus.UNKNOWN, SendStatus.SENT)
    assert fake.delivered_texts(987654321) == ["two"]


# -- probe -------------------------------------------------------------------------------


async def test_the_probe_says_nothing_when_the_key_works(
    sender: ManyChatSender, fake: FakeManyChat
) -> None:
    assert await sender.probe() is None
    assert fake.requests[-1]["path"] == "/fb/page/getInfo"


async def test_the_probe_explains_a_refused_key_without_showing_it(fake: FakeManyChat) -> None:
    wrong = "4242:wrong-secret-value"
    async with opened(wrong, fake.url) as sender:
        problem = await sender.probe()

    assert problem is not None
    assert problem.startswith("ManyChat refused the API key (401)")
    assert "wrong-secret-value" not in problem and "\n" not in problem


async def test_the_probe_explains_an_unreachable_manychat() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    async with opened(KEY, url) as sender:
        problem = await sender.probe()

    assert problem is not None
    assert problem.startswith(f"cannot reach ManyChat at {url}")


# -- Retry-After parsing -----------------------------------------------------------------


def test_retry_after_reads_seconds_dates_and_ignores_garbage() -> None:
    now = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    assert retry_after_seconds("12", now) == 12.0
    assert retry_after_seconds("Sun, 01 Nov 2026 12:00:40 GMT", now) == 40.0
    assert retry_after_seconds("Sun, 01 Nov 2026 11:00:00 GMT", now) == 0.0
    assert retry_after_seconds("-5", now) == 0.0
    assert retry_after_seconds("soon", now) is None
    assert retry_after_seconds("nan", now) is None
    assert retry_after_seconds(None, now) is None
