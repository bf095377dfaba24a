"""One write, the replies in order: what authentication's round trip relies on."""

import pytest
import redis
from django.conf import settings
from redis.exceptions import NoScriptError, RedisError, ResponseError

from opply.common.redis import get_redis, round_trip


def test_replies_come_in_order_as_redis_sends_them():
    get_redis().set("k", "v")

    replies = round_trip([("MGET", "k", "missing"), ("INCR", "n"), ("EXPIRE", "n", 60), ("GET", "k")])

    assert replies == [["v", None], 1, 1, "v"]


def test_an_error_answer_takes_its_commands_place_and_the_rest_still_run():
    get_redis().set("text", "not a number")

    replies = round_trip([("INCR", "text"), ("EVALSHA", "0" * 40, 0), ("INCR", "n")])

    assert isinstance(replies[0], ResponseError)
    assert isinstance(replies[1], NoScriptError)  # what the page cache's prefetch falls back on
    assert replies[2] == 1
    assert get_redis().get("n") == "1"


def test_a_connection_the_server_dropped_is_replaced():
    connection_id = round_trip([("CLIENT", "ID")])[0]
    killer = redis.Redis.from_url(settings.REDIS_URL)
    assert killer.client_kill_filter(_id=connection_id) == 1

    replies = round_trip([("CLIENT", "ID"), ("PING",)])

    assert replies[0] != connection_id
    assert replies[1] == "PONG"


def test_an_unreachable_redis_raises_redis_error(redis_down):
    with pytest.raises(RedisError):
        round_trip([("PING",)])


def test_a_connection_that_breaks_mid_batch_raises_and_leaves_the_pool_clean():
    """Redis closes the connection after the second command (it kills itself):
    the third reply never comes. That is a RedisError (authentication then asks
    the database), and the broken socket never goes back to the pool half-read."""
    own_id = round_trip([("CLIENT", "ID")])[0]

    with pytest.raises(RedisError):
        round_trip([("INCR", "n"), ("CLIENT", "KILL", "ID", own_id, "SKIPME", "no"), ("PING",)])

    assert round_trip([("GET", "n"), ("PING",)]) == ["1", "PONG"]
