"""Messages to the live streams of every web process: Redis pub/sub when a Redis URL is given, and always the
listeners inside this process (one process: runserver, the tests).

    publish("support:queue", {...}, redis_url=url)      # from any thread, after the change it tells of committed

    async with subscribe(["support:queue"], redis_url=url) as subscription:   # a stream under ASGI
        messages = await subscription.next_batch(timeout=15)
        subscription.live, subscription.take_missed()

    with LocalWaiter(["support:queue"]) as waiter:       # a stream under WSGI: this process's messages only
        messages = waiter.next_batch(timeout=1)

Publishing is fire-and-forget, as pub/sub is: a stream that was not listening misses the message, so streams read
what they missed from the database (each app keeps its events as rows) and use these messages to hear of new ones
at once. A subscription says when that reading is needed: `live` is false while Redis cannot be reached (the stream
polls the database meanwhile), and `take_missed()` is true once after messages may have been lost (Redis came back,
or the stream fell too far behind).

Under ASGI every subscription of a process shares one Redis connection (one per event loop and URL): a hundred open
streams cost one connection to Redis and a dictionary entry each, not a hundred connections. The connection is
opened by the first subscription and closed soon after the last one ends; when it breaks it is opened again, with
a growing pause, for as long as any subscription is open."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import redis.asyncio as aioredis
from django.core.serializers.json import DjangoJSONEncoder
from redis import Redis
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

Listener = Callable[[str, dict[str, Any]], None]
Message = dict[str, Any]

# A subscription waits this long for Redis to confirm it before it starts anyway, not live (its stream polls).
READY_SECONDS = 2.0
# The reader's read timeout: how soon it notices that nobody subscribes any more.
READ_SECONDS = 1.0
# A silent connection is asked for a PING after this long, and given up as broken if no answer comes in time: a
# connection whose peer vanished without closing it (a network partition) would otherwise look idle for ever.
PING_AFTER_SECONDS = 10.0
PONG_WITHIN_SECONDS = 5.0
RETRY_FIRST_SECONDS = 0.5
RETRY_MAX_SECONDS = 5.0
# Messages waiting for a stream that does not read them; beyond, they are dropped and the stream told to catch up
# from the database.
MAX_PENDING = 1000

_lock = threading.Lock()
_clients: dict[str, Redis] = {}
_listeners: dict[str, set[Listener]] = {}


def encode(message: dict[str, Any]) -> str:
    return json.dumps(message, cls=DjangoJSONEncoder, ensure_ascii=False, separators=(",", ":"))


def _redis(url: str) -> Redis:
    with _lock:
        client = _clients.get(url)
        if client is None:
            client = _clients[url] = Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        return client


def publish(channel: str, message: dict[str, Any], *, redis_url: str | None) -> None:
    """Sends `message` to every stream listening on `channel`: through Redis when `redis_url` is set (every web
    process), and to this process's own listeners in any case (a stream under WSGI hears no Redis: it hears what
    this process publishes at once, and the rest at its next poll). A Redis that cannot be reached is logged, not
    raised: the change already committed, and the streams catch up from the database."""
    text = encode(message)
    if redis_url:
        try:
            _redis(redis_url).publish(channel, text)
        except RedisError:
            logger.warning("live message on %s not published: Redis unreachable", channel, exc_info=True)
    deliver_locally(channel, text)


def deliver_locally(channel: str, message: dict[str, Any] | str) -> None:
    """To this process's listeners on `channel`, each given the message as JSON would carry it (decoded once,
    shared: listeners must not change it)."""
    with _lock:
        listeners = list(_listeners.get(channel, ()))
    if not listeners:
        return
    decoded = json.loads(message if isinstance(message, str) else encode(message))
    for listener in listeners:
        try:
            listener(channel, decoded)
        except Exception:
            logger.exception("live listener on %s failed", channel)


def listen_locally(channels: Sequence[str], listener: Listener) -> Callable[[], None]:
    """Registers `listener` for `channels` in this process; returns the function that removes it."""
    channels = list(channels)
    with _lock:
        for channel in channels:
            _listeners.setdefault(channel, set()).add(listener)

    def remove() -> None:
        with _lock:
            for channel in channels:
                listeners = _listeners.get(channel)
                if listeners is not None:
                    listeners.discard(listener)
                    if not listeners:
                        del _listeners[channel]

    return remove


class Subscription:
    """What one asynchronous stream receives: the messages of its channels, in the order they came, and whether it
    can trust them to be all (`live`, `take_missed()`). Made by `subscribe()`."""

    def __init__(self, channels: Sequence[str]) -> None:
        self.channels = tuple(dict.fromkeys(channels))
        self.live = False
        self._messages: deque[Message] = deque()
        self._wake = asyncio.Event()
        self._confirmed = asyncio.Event()
        self._missed = False

    async def next_batch(self, timeout: float) -> list[Message]:
        """The messages that came since the last call, waiting up to `timeout` seconds for one when there are none
        yet. It returns early, maybe with none, when `live` changes."""
        if not self._messages and timeout > 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wake.wait()
        self._wake.clear()
        batch = list(self._messages)
        self._messages.clear()
        return batch

    def take_missed(self) -> bool:
        """True once after messages may have been lost: the stream reads the database to catch up."""
        missed, self._missed = self._missed, False
        return missed

    def _push(self, message: Message) -> None:
        if len(self._messages) >= MAX_PENDING:
            self._missed = True
        else:
            self._messages.append(message)
        self._wake.set()

    def _set_live(self, live: bool) -> None:
        if live == self.live:
            return
        if live:
            # Whatever was published while it was not live went past it.
            self._missed = True
            self._confirmed.set()
        self.live = live
        self._wake.set()


@contextlib.asynccontextmanager
async def subscribe(
    channels: Sequence[str], *, redis_url: str | None, ready_seconds: float = READY_SECONDS
) -> AsyncIterator[Subscription]:
    """A subscription to `channels`, for a stream running on the current event loop. Once this returns, every
    message published later reaches it (unless it is not `live`): a stream subscribes first, then reads from the
    database what came before, and so misses nothing in between. It never raises for an unreachable Redis: it
    starts not live, and becomes live when Redis answers."""
    subscription = Subscription(channels)
    if not redis_url:
        remove = listen_locally(subscription.channels, _threadsafe(subscription))
        subscription.live = True
        try:
            yield subscription
        finally:
            remove()
        return
    hub = _hub(redis_url)
    await hub.add(subscription, ready_seconds)
    try:
        yield subscription
    finally:
        hub.remove(subscription)


def _threadsafe(subscription: Subscription) -> Listener:
    """A listener that hands each message to the subscription's event loop (publishers run in other threads)."""
    loop = asyncio.get_running_loop()

    def listener(channel: str, message: Message) -> None:
        # A loop that has closed had its streams end: nothing waits for the message.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(subscription._push, message)

    return listener


_hubs: dict[tuple[asyncio.AbstractEventLoop, str], _RedisHub] = {}


def client_name() -> str:
    return f"broadcast-{os.getpid()}"


def _hub(url: str) -> _RedisHub:
    key = (asyncio.get_running_loop(), url)
    hub = _hubs.get(key)
    if hub is None:
        hub = _hubs[key] = _RedisHub(key)
    return hub


class _RedisHub:
    """The Redis pub/sub connection the subscriptions of one event loop share, and its reader.

    Only the reader reads from the connection; subscriptions write their SUBSCRIBE at once (a write does not
    disturb the reader's read), and the reader sends the UNSUBSCRIBE of channels nobody listens to any more. A
    channel is confirmed once Redis has answered every SUBSCRIBE and UNSUBSCRIBE sent for it on this connection, the
    last of them being a SUBSCRIBE: from then on, each message published to it reaches its subscriptions."""

    def __init__(self, key: tuple[asyncio.AbstractEventLoop, str]) -> None:
        self.key = key
        self.url = key[1]
        self.subscribers: dict[str, set[Subscription]] = {}
        self.client: aioredis.Redis | None = None
        self.pubsub: Any = None
        self.ready = False
        self.on_server: set[str] = set()
        self.answers_due: dict[str, int] = {}
        self.to_unsubscribe: set[str] = set()
        self.reader: asyncio.Task[None] | None = None
        # Redis could not be reached at the last try: a new subscription does not wait for it.
        self.outage = False

    async def add(self, subscription: Subscription, ready_seconds: float) -> None:
        for channel in subscription.channels:
            self.subscribers.setdefault(channel, set()).add(subscription)
            self.to_unsubscribe.discard(channel)
        if self.reader is None:
            self.reader = asyncio.get_running_loop().create_task(self._run(), name=f"broadcast reader {self.url}")
        if self.ready:
            fresh = [channel for channel in subscription.channels if channel not in self.on_server]
            if fresh:
                await self._subscribe(fresh)
        if self._confirmed(subscription):
            subscription._set_live(True)
        elif not self.outage:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(ready_seconds):
                    await subscription._confirmed.wait()
        # What came before this point, the stream reads from the database next.
        subscription._missed = False

    def remove(self, subscription: Subscription) -> None:
        for channel in subscription.channels:
            subscriptions = self.subscribers.get(channel)
            if subscriptions is None:
                continue
            subscriptions.discard(subscription)
            if not subscriptions:
                del self.subscribers[channel]
                if channel in self.on_server:
                    self.to_unsubscribe.add(channel)

    def _confirmed(self, subscription: Subscription) -> bool:
        return self.ready and all(
            channel in self.on_server and channel not in self.answers_due for channel in subscription.channels
        )

    def _sent(self, channels: list[str], *, subscribe: bool) -> None:
        """Notes a SUBSCRIBE (or UNSUBSCRIBE) of `channels` on its way: each is confirmed once Redis answered it."""
        if subscribe:
            self.on_server.update(channels)
        else:
            self.on_server.difference_update(channels)
        for channel in channels:
            self.answers_due[channel] = self.answers_due.get(channel, 0) + 1

    async def _subscribe(self, channels: list[str]) -> None:
        self._sent(channels, subscribe=True)
        try:
            await self.pubsub.subscribe(*channels)
        except (RedisError, OSError):
            # The reader finds the connection broken too, and subscribes everything again on the next one.
            logger.debug("SUBSCRIBE on a broken connection", exc_info=True)

    async def _run(self) -> None:
        delay = RETRY_FIRST_SECONDS
        try:
            while self.subscribers:
                try:
                    await self._connect()
                    if self.outage:
                        logger.warning("live events: Redis pub/sub is back")
                        self.outage = False
                    delay = RETRY_FIRST_SECONDS
                    await self._read()
                except Exception as error:
                    self._down()
                    if not self.outage:
                        # A Redis that went away is expected now and then; anything else is a bug, with its trace.
                        logger.warning(
                            "live events: Redis pub/sub unreachable (%s); streams poll the database until it is back",
                            error,
                            exc_info=not isinstance(error, (RedisError, OSError)),
                        )
                        self.outage = True
                    await self._disconnect()
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, RETRY_MAX_SECONDS)
        finally:
            # Gone from the registry before anything else: a subscription that comes now makes a new hub.
            if _hubs.get(self.key) is self:
                del _hubs[self.key]
            self._down()
            await self._disconnect()

    async def _connect(self) -> None:
        # Named for its process: CLIENT LIST tells which web process holds which pub/sub connection.
        self.client = aioredis.Redis.from_url(
            self.url, socket_timeout=5, socket_connect_timeout=2, decode_responses=True, client_name=client_name()
        )
        self.pubsub = self.client.pubsub()
        # Channels that come while the first SUBSCRIBE is on its way are sent by this loop too; once `ready`, each
        # new subscription sends its own.
        while pending := [channel for channel in self.subscribers if channel not in self.on_server]:
            self._sent(pending, subscribe=True)
            await self.pubsub.subscribe(*pending)
        self.ready = True

    async def _read(self) -> None:
        loop = asyncio.get_running_loop()
        heard_at = loop.time()
        ping_at: float | None = None
        while self.subscribers:
            if self.to_unsubscribe:
                gone = sorted(self.to_unsubscribe)
                self.to_unsubscribe.clear()
                self._sent(gone, subscribe=False)
                await self.pubsub.unsubscribe(*gone)
            message = await self.pubsub.get_message(timeout=READ_SECONDS)
            now = loop.time()
            if message is not None:
                heard_at, ping_at = now, None
                self._dispatch(message)
            elif ping_at is not None and now - ping_at > PONG_WITHIN_SECONDS:
                raise RedisError("no answer to PING")
            elif ping_at is None and now - heard_at > PING_AFTER_SECONDS:
                ping_at = now
                await self.pubsub.ping()

    def _dispatch(self, message: dict[str, Any]) -> None:
        kind, channel = message["type"], message["channel"]
        if kind == "message":
            subscriptions = self.subscribers.get(channel)
            if not subscriptions:
                return
            try:
                payload = json.loads(message["data"])
            except ValueError:
                logger.warning("live message on %s is not JSON: dropped", channel)
                return
            for subscription in subscriptions:
                subscription._push(payload)
        elif kind in ("subscribe", "unsubscribe"):
            due = self.answers_due.get(channel, 0) - 1
            if due > 0:
                self.answers_due[channel] = due
                return
            self.answers_due.pop(channel, None)
            for subscription in self.subscribers.get(channel, ()):
                if self._confirmed(subscription):
                    subscription._set_live(True)

    def _down(self) -> None:
        self.ready = False
        self.on_server.clear()
        self.answers_due.clear()
        self.to_unsubscribe.clear()
        for subscriptions in self.subscribers.values():
            for subscription in subscriptions:
                subscription._set_live(False)

    async def _disconnect(self) -> None:
        pubsub, client = self.pubsub, self.client
        self.pubsub = self.client = None
        with contextlib.suppress(RedisError, OSError):
            if pubsub is not None:
                await pubsub.reset()
            if client is not None:
                await client.close(close_connection_pool=True)


class LocalWaiter:
    """What a synchronous stream (under WSGI) hears: the messages this process publishes on `channels`, at once.
    Messages published by other processes do not reach it: such a stream also polls the database."""

    def __init__(self, channels: Sequence[str]) -> None:
        self.channels = tuple(dict.fromkeys(channels))
        self._messages: deque[Message] = deque()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._remove: Callable[[], None] | None = None
        self._missed = False

    def __enter__(self) -> LocalWaiter:
        self._remove = listen_locally(self.channels, self._listener)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._remove is not None:
            self._remove()
            self._remove = None

    def _listener(self, channel: str, message: Message) -> None:
        with self._lock:
            if len(self._messages) >= MAX_PENDING:
                self._missed = True
            else:
                self._messages.append(message)
            self._wake.set()

    def next_batch(self, timeout: float) -> list[Message]:
        """The messages that came since the last call, waiting up to `timeout` seconds for one."""
        if timeout > 0:
            self._wake.wait(timeout)
        with self._lock:
            batch = list(self._messages)
            self._messages.clear()
            self._wake.clear()
        return batch

    def take_missed(self) -> bool:
        with self._lock:
            missed, self._missed = self._missed, False
        return missed
