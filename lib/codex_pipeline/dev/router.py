"""The local stand-in for KafkaSinks, KafkaSources, Kafka brokers and Triggers.

It behaves as the cluster does, driven by :mod:`codex_pipeline.dev.topology`:

- ``POST /<namespace>/<kafkasink>`` is the KafkaSink ingress: a binary or structured CloudEvent
  is appended to the sink's topic and answered 202 only once committed (400 when it is not a
  CloudEvent, 404 for an unknown sink).
- Each KafkaSource copies its topics into its broker's topic (``knative-broker-<ns>-<name>``,
  as the Kafka broker names it); each broker fans its topic out to the Triggers whose filter
  matches, one durable delivery per Trigger.
- A delivery is a binary-mode POST to the subscriber with the Trigger's timeout. 2xx is done
  (a CloudEvent in the answer is a reply, appended to the broker's topic and routed again; a
  non-empty answer that is not a CloudEvent fails, as Knative's dispatcher fails it); 5xx,
  404, 408, 409, 429, timeouts and refused connections are retried with the Trigger's backoff;
  other 4xx and exhausted retries go to the dead-letter sink with Knative's
  ``knativeerror*`` extensions. Deliveries to a function that is not being served are held,
  not failed, and go out when ``dev`` runs with it.

``GET /topics`` and ``GET /topics/<topic>?after=N&wait=S`` let ``listen`` and tests read the
topics (long-poll up to ``wait`` seconds; ``end`` in the answer is the newest offset).
"""

from __future__ import annotations

import base64
import json
import re
import sys
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from codex_pipeline.dev.log import Due, EventLog, Record
from codex_pipeline.dev.topology import Key, Topology, Trigger
from codex_pipeline.dev.view import View
from codex_pipeline.errors import PipelineError
from codex_pipeline.wire.events import WORKFLOW_SUBMITTED_TYPE, Event, decode_request, encode_binary, is_cloudevent
from codex_pipeline.wire.http import Headers, Request

_DETAILS = re.compile(r"(:?\s+[A-Za-z_.]+=\S*)+$")
RETRYABLE = frozenset({404, 408, 409, 429}) | frozenset(range(500, 600))


class _QuietServer(ThreadingHTTPServer):
    """A client that hangs up (Ctrl-C on `listen` mid long-poll, a timed-out function) is normal
    here: no traceback in dev's terminal for it."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):  # BrokenPipeError, ConnectionResetError, ...
            return
        super().handle_error(request, client_address)


def broker_topic(broker: Key) -> str:
    return f"knative-broker-{broker[0]}-{broker[1]}"


def _record_json(record: Record) -> dict[str, Any]:
    event = record.event
    data: Any
    try:
        data = json.loads(event.data) if (event.datacontenttype or "").endswith("json") else None
    except (UnicodeDecodeError, json.JSONDecodeError):
        data = None
    return {
        "offset": record.offset,
        "topic": record.topic,
        "origin": record.origin,
        "attributes": event.attributes(),
        "data": data,
        "data_base64": None if data is not None else base64.b64encode(event.data).decode(),
    }


def _error_text(body: bytes) -> str:
    """The ``message`` of a JSON error answer (the functions' error shape), else the text, short."""
    try:
        loaded = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return body[:200].decode("utf-8", "replace")
    message = loaded.get("message") if isinstance(loaded, dict) else None
    return str(message)[:200] if message else json.dumps(loaded)[:200]


class Router:
    def __init__(
        self,
        topology: Topology,
        log: EventLog,
        view: View,
        subscribers: Mapping[str, str],
        *,
        workers: int = 4,
        logs: Mapping[str, Path] | None = None,
    ) -> None:
        self.topology = topology
        self.log = log
        self.view = view
        self.subscribers = dict(subscribers)  # served function -> base URL
        self.logs = dict(logs or {})  # function -> its log file (to show why a delivery was ignored)
        self.triggers = {t.name: t for t in topology.triggers}
        self._workers = workers
        self._local = threading.local()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="deliver")
        self._in_flight: set[int] = set()
        self._flight_lock = threading.Lock()
        self._sightings: dict[str, float] = {}
        self._stop = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._threads: list[threading.Thread] = []
        self._sink_topics = {f"/{ns}/{name}": topic for (ns, name), topic in topology.sinks.items()}
        self._broker_topics = {f"/{ns}/{name}": broker_topic((ns, name)) for ns, name in topology.brokers}
        # Called with (topic, origin, event) for each event a KafkaSink accepted, once it is committed
        # (dev's GitHub stand-in learns from the deliveries ingest-webhook passes on).
        self.taps: list[Callable[[str, str, Event], None]] = []

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self, port: int = 0, host: str = "127.0.0.1") -> int:
        resumed = self.log.resume_pending()
        if resumed:
            self.view.note(f"resuming {resumed} pending delivery(ies) from the last run")
        self._server = _QuietServer((host, port), self._handler_class())
        self._server.daemon_threads = True
        server = self._server
        for name, target in (("http", lambda: server.serve_forever(poll_interval=0.05)), ("pump", self._pump)):
            thread = threading.Thread(target=target, daemon=True, name=f"router-{name}")
            thread.start()
            self._threads.append(thread)
        return int(self._server.server_address[1])

    def stop(self) -> None:
        self._stop.set()
        self.log.kick.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        self._pool.shutdown(wait=True, cancel_futures=True)
        for thread in self._threads:
            thread.join(timeout=5)

    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def sink_url(self, sink: Key, origin: str) -> str:
        """The local URL of a KafkaSink's ingress for function ``origin``."""
        return f"{self.url()}/{sink[0]}/{sink[1]}?from={origin}"

    def pending(self) -> int:
        return int(self.log.delivery_counts().get("pending", 0))

    # --- the KafkaSink ingress ---------------------------------------------------------------

    def accept(self, path: str, origin: str, headers: Headers, body: bytes) -> tuple[int, dict[str, Any]]:
        # KafkaSinks, and Brokers at their ingress path (``/<namespace>/<broker>``, as the Kafka
        # broker's ingress takes them: ``dead-letters replay`` sends there).
        topic = self._sink_topics.get(path.rstrip("/")) or self._broker_topics.get(path.rstrip("/"))
        if topic is None:
            return 404, {
                "error": "not_found",
                "message": f"no KafkaSink at {path}; known: {', '.join(sorted(self._sink_topics))}",
            }
        request = Request("POST", path, headers, body)
        if not is_cloudevent(request):
            return 400, {"error": "bad_request", "message": "a KafkaSink takes CloudEvents (binary or structured)"}
        try:
            event = decode_request(request)
        except PipelineError as error:
            return error.status, error.body()
        self.log.append(topic, event, origin)
        for tap in self.taps:
            try:
                tap(topic, origin, event)
            except Exception as error:
                self.view.note(f"!! {getattr(tap, '__qualname__', tap)} failed on {event.id}: {error}")
        where = f"{event.extensions.get('partitionkey') or event.subject or ''}".strip()
        if origin not in self.subscribers:
            self.view.line(
                "received", event.id, f"{event.type} {where} -> {topic}" + (f" (from {origin})" if origin else "")
            )
        elif self._first_sighting(event.id):  # a task goes to two topics (protobuf, JSON): one line
            self.view.line("routed", event.id, f"{origin} -> {event.type} {where} -> {topic}")
        return 202, {}

    def _first_sighting(self, event_id: str, window: float = 5.0) -> bool:
        now = time.monotonic()
        with self._flight_lock:
            for old in [k for k, at in self._sightings.items() if now - at > window]:
                del self._sightings[old]
            seen = event_id in self._sightings
            self._sightings[event_id] = now
        return not seen

    # --- sources, brokers, deliveries ---------------------------------------------------------

    def _route(self, broker: Key) -> Callable[[Record], list[tuple[str, str]]]:
        def route(record: Record) -> list[tuple[str, str]]:
            attributes = record.event.attributes()
            return [(t.name, t.subscriber) for t in self.topology.triggers_of(broker) if t.filter.matches(attributes)]

        return route

    def _pump(self) -> None:
        while not self._stop.is_set():
            moved = False
            for source in self.topology.sources:
                moved |= bool(
                    self.log.fan_out(
                        f"source:{source.name}", source.topics, lambda _r: [], forward_to=broker_topic(source.broker)
                    )
                )
            for broker in self.topology.brokers:
                for record, targets in self.log.fan_out(
                    f"broker:{broker[0]}/{broker[1]}", [broker_topic(broker)], self._route(broker)
                ):
                    moved = True
                    for _trigger, subscriber in targets:
                        if subscriber not in self.subscribers:
                            self.view.line(
                                "held",
                                record.event.id,
                                f"{record.event.type} for {subscriber}, which "
                                "is not being served (delivered when dev runs it)",
                            )
            moved |= self._dispatch()
            if moved:
                continue
            wake = self.log.next_due_at(list(self.subscribers))
            timeout = 1.0 if wake is None else max(0.01, min(1.0, wake - time.time()))
            self.log.kick.wait(timeout)
            self.log.kick.clear()

    def _dispatch(self) -> bool:
        with self._flight_lock:
            busy = set(self._in_flight)
        free = self._workers - len(busy)
        if free <= 0:
            return False
        due = self.log.due(free, list(self.subscribers), exclude=busy)
        for delivery in due:
            with self._flight_lock:
                self._in_flight.add(delivery.id)
            self._pool.submit(self._deliver_safely, delivery)
        return bool(due)

    def _deliver_safely(self, due: Due) -> None:
        try:
            self._deliver(due)
        except Exception as exc:  # never lose the delivery: it stays pending and is retried
            self.view.line("error", due.record.event.id, f"router failed delivering to {due.subscriber}: {exc!r}")
            self.log.retry_later(due.id, due.attempts, time.time() + 1.0, f"router error {exc!r}")
        finally:
            with self._flight_lock:
                self._in_flight.discard(due.id)
            self.log.kick.set()

    def _session(self) -> Any:
        """One keep-alive session per delivery thread (requests sessions are not thread-safe)."""
        session = getattr(self._local, "session", None)
        if session is None:
            import requests

            session = self._local.session = requests.Session()
        return session

    def _deliver(self, due: Due) -> None:
        import requests

        trigger = self.triggers[due.trigger]
        event = due.record.event
        attempt = due.attempts + 1
        mark = self.log.last_offset()
        headers, body = encode_binary(event)
        status: int | None = None
        reply: Event | None = None
        try:
            answer = self._session().post(
                self.subscribers[due.subscriber], data=body, headers=headers, timeout=trigger.delivery.timeout
            )
            status = answer.status_code
            problem = f"HTTP {status}" + (f": {_error_text(answer.content)}" if status >= 300 else "")
            if 200 <= status < 300 and answer.content:
                reply_request = Request("POST", "/", Headers(answer.headers.items()), answer.content)
                if is_cloudevent(reply_request):
                    reply = decode_request(reply_request)
                else:  # Knative: "unknown encoding and non empty response" -> failed delivery
                    status, problem = 502, f"HTTP {answer.status_code} with a non-empty body that is not a CloudEvent"
        except requests.Timeout:
            problem = f"timeout after {trigger.delivery.timeout:g}s"
        except requests.ConnectionError as exc:
            problem = f"connection failed ({type(exc).__name__})"
        except PipelineError as error:
            status, problem = 502, f"reply is not a valid CloudEvent: {error.message}"

        if status is not None and 200 <= status < 300:
            self.log.finish(due.id, attempt, "done", f"HTTP {status}")
            self._report_done(trigger, event, mark, reply)
            return
        retryable = status is None or status in RETRYABLE
        if retryable and attempt < trigger.delivery.attempts:
            delay = trigger.delivery.delay(attempt)
            self.log.retry_later(due.id, attempt, time.time() + delay, problem)
            self.view.line(
                "retry",
                event.id,
                f"{trigger.subscriber} {problem} (attempt {attempt}/{trigger.delivery.attempts}, next in {delay:g}s)",
            )
            return
        self._dead_letter(due, trigger, attempt, status, problem)

    def _report_done(self, trigger: Trigger, event: Event, mark: int, reply: Event | None) -> None:
        if reply is not None:
            self.log.append(broker_topic(trigger.broker), reply, trigger.subscriber)
            if reply.type == WORKFLOW_SUBMITTED_TYPE:
                try:
                    data = json.loads(reply.data)
                except (UnicodeDecodeError, json.JSONDecodeError):
                    data = {}
                self.view.submitted(
                    event.id,
                    trigger.subscriber,
                    f"{data.get('namespace', '?')}/{data.get('name', reply.id)}",
                    bool(data.get("duplicate")),
                )
            else:
                self.view.line("replied", event.id, f"{trigger.subscriber} -> {reply.type}")
            return
        emitted = [
            r
            for r in self.log.records_since(mark, origin=trigger.subscriber)
            if r.event.id.split(":", 1)[0] == event.id or r.event.id.startswith(event.id + ":")
        ]
        if emitted:
            return  # already shown as "routed" when the sink accepted each task
        if trigger.subscriber == "route-task":
            reason = self._logged_reason(trigger.subscriber, event.id)
            self.view.line(
                "ignored",
                event.id,
                f"{trigger.subscriber} acknowledged {event.type} and emitted nothing"
                + (f": {reason}" if reason else ""),
            )
            return
        # An effect function that answered with no event still did something (a comment, a PR marked
        # ready): show what its decision log says it did, details included.
        did = self._logged_reason(trigger.subscriber, event.id, details=True)
        self.view.line(
            "done", event.id, f"{trigger.subscriber} handled {event.type}: " + (did or "nothing logged (see its log)")
        )

    def _logged_reason(self, function: str, event_id: str, *, details: bool = False) -> str | None:
        """What a function's JSON decision log says about this delivery: its ``reason`` field, else
        the message without its ``key=value`` details (task ids are ``<delivery>:<stage>``)."""
        path = self.logs.get(function)
        if path is None or not path.is_file():
            return None
        delivery = event_id.split(":", 1)[0]
        with path.open("rb") as handle:
            handle.seek(max(0, path.stat().st_size - 65536))
            tail = handle.read().decode("utf-8", "replace").splitlines()
        for line in reversed(tail):
            if delivery not in line:
                continue
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue
            if not isinstance(entry, dict):
                continue
            if details and entry.get("msg"):
                return " ".join(
                    part for part in str(entry["msg"]).split() if not part.startswith(("delivery=", "sha="))
                )
            if entry.get("reason"):
                return str(entry["reason"])
            message = _DETAILS.sub("", str(entry.get("msg") or "")).strip().rstrip(":")
            if message:
                return message
        return None

    def _dead_letter(self, due: Due, trigger: Trigger, attempt: int, status: int | None, problem: str) -> None:
        event = due.record.event
        sink = trigger.delivery.dead_letter
        if sink is None:
            self.log.finish(due.id, attempt, "dropped", problem)
            self.view.line(
                "dropped", event.id, f"{trigger.subscriber} {problem}; Trigger {trigger.name} has no deadLetterSink"
            )
            return
        dead = event.with_extensions(
            knativeerrordest=self.subscribers.get(trigger.subscriber, trigger.subscriber),
            knativeerrorcode=str(status) if status is not None else None,
            knativeerrordata=base64.b64encode(problem.encode()).decode(),
        )
        topic = self.topology.sinks[sink]
        self.log.append(topic, dead, "router")
        self.log.finish(due.id, attempt, "dead", problem)
        self.view.line("dead-letter", event.id, f"{trigger.subscriber} {problem} after {attempt} attempt(s) -> {topic}")

    # --- HTTP --------------------------------------------------------------------------------

    def topics_json(self) -> dict[str, Any]:
        counts = self.log.topic_counts()
        return {
            "topics": {topic: counts.get(topic, 0) for topic in sorted(set(self.topology.topics()) | set(counts))},
            "deliveries": dict(self.log.delivery_counts()),
        }

    def read(self, topic: str, after: int, limit: int, wait: float) -> list[dict[str, Any]]:
        deadline = time.monotonic() + wait
        while True:
            records = self.log.records(topic, after, limit)
            remaining = deadline - time.monotonic()
            if records or remaining <= 0 or self._stop.is_set():
                return [_record_json(r) for r in records]
            with self.log.changed:
                self.log.changed.wait(min(remaining, 0.5))

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        router = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _send(self, status: int, payload: Any | None) -> None:
                body = b"" if payload is None or status == 202 else json.dumps(payload).encode()
                self.send_response(status)
                if body:
                    self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                url = urlsplit(self.path)
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                origin = (parse_qs(url.query).get("from") or [""])[0]
                status, payload = router.accept(url.path, origin, Headers(self.headers.items()), body)
                self._send(status, payload)

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                query = parse_qs(url.query)
                if url.path in ("/", "/topics"):
                    self._send(200, router.topics_json())
                elif url.path.startswith("/topics/"):
                    try:
                        after = int((query.get("after") or ["0"])[0])
                        limit = max(1, min(1000, int((query.get("limit") or ["100"])[0])))
                        wait = max(0.0, min(30.0, float((query.get("wait") or ["0"])[0])))
                    except ValueError:
                        self._send(400, {"error": "bad_request", "message": "after, limit and wait are numbers"})
                        return
                    topic = url.path[len("/topics/") :]
                    self._send(
                        200, {"records": router.read(topic, after, limit, wait), "end": router.log.end_offset(topic)}
                    )
                elif url.path == "/health":
                    self._send(200, {"status": "alive"})
                else:
                    self._send(404, {"error": "not_found", "message": f"no route {url.path}"})

            def log_message(self, format: str, *args: Any) -> None:
                return

        return Handler
