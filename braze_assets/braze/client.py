"""Braze REST client: /users/track in concurrent, rate-limited, retried batches with per-row outcomes.

Plain Python (no Dagster). One pool of keep-alive connections sized to the concurrency,
worker threads that share a process-wide fixed-window limiter per endpoint, and one orjson call per
batch. Every input row ends as exactly one RowOutcome: delivered, rejected (Braze's per-object
error) or not_delivered (with the last error) -- nothing is dropped silently.
"""

from __future__ import annotations

import email.utils
import itertools
import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import orjson

from braze_assets.braze.instances import instance_for_endpoint
from braze_assets.braze.limiter import FixedWindowLimiter, shared_limiter
from braze_assets.braze.transport import ConnectionPool, TlsError, TransportError

DELIVERED = "delivered"
REJECTED = "rejected"
NOT_DELIVERED = "not_delivered"

TRACK_ROUTE = "/users/track"
EXPORT_ROUTE = "/users/export/ids"
DELETE_ROUTE = "/users/delete"
MERGE_ROUTE = "/users/merge"
ALIAS_NEW_ROUTE = "/users/alias/new"
IDENTIFY_ROUTE = "/users/identify"
SUBSCRIPTION_SET_ROUTE = "/v2/subscription/status/set"
TRACK_ARRAYS = ("attributes", "events", "purchases")
# Braze documents "4 MB"; staying under the decimal reading keeps both readings safe.
MAX_REQUEST_BYTES = 4_000_000
IDS_PER_REQUEST = 50
_ROUTE_PERMISSION = {
    TRACK_ROUTE: "users.track",
    EXPORT_ROUTE: "users.export.ids",
    DELETE_ROUTE: "users.delete",
    MERGE_ROUTE: "users.merge",
    ALIAS_NEW_ROUTE: "users.alias.new",
    IDENTIFY_ROUTE: "users.identify",
}
_JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NAIVE_UTC
_DEFAULT_LOGGER = logging.getLogger("braze_assets.braze")


@dataclass(frozen=True, slots=True)
class RowOutcome:
    index: int
    status: str
    reason: str | None


_new = object.__new__
_set_index = RowOutcome.index.__set__  # type: ignore[attr-defined]
_set_status = RowOutcome.status.__set__  # type: ignore[attr-defined]
_set_reason = RowOutcome.reason.__set__  # type: ignore[attr-defined]


def _outcome(index: int, status: str, reason: str | None) -> RowOutcome:
    # One outcome per row is the hot path (a million per run); the frozen dataclass __init__
    # costs ~1 us, writing the slots directly about half of that.
    row = _new(RowOutcome)
    _set_index(row, index)
    _set_status(row, status)
    _set_reason(row, reason)
    return row


@dataclass
class BatchResult:
    batch_no: int
    indices: list[int]
    http_status: int | None
    attempts: int
    elapsed_ms: float
    outcomes: list[RowOutcome]
    unmapped_errors: list[dict] = field(default_factory=list)


@dataclass
class TrackResult:
    outcomes: list[RowOutcome]
    batches: list[BatchResult]
    delivered: int = 0
    rejected: int = 0
    not_delivered: int = 0
    requests: int = 0
    retries: int = 0
    rate_limit_waits: int = 0
    rate_limited: int = 0
    server_errors: int = 0
    transport_errors: int = 0
    split_requests: int = 0
    bytes_sent: int = 0
    elapsed_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.rejected == 0 and self.not_delivered == 0


class BrazeError(Exception):
    """A problem the caller must fix (key, permission, endpoint, batch size); never holds the key."""

    def __init__(
        self, message: str, *, status: int | None = None, result: TrackResult | None = None
    ):
        super().__init__(message)
        self.status = status
        self.result = result


@dataclass
class _Response:
    status: int | None
    body: dict
    headers: dict[str, str]
    attempts: int
    error: str | None  # last error text when the request never succeeded


# Long sends tell the user how far they are, without a line per batch.
PROGRESS_EVERY_S = 5.0


class _Run:
    """Shared state of one track_attributes call; all mutation happens under ``lock``."""

    def __init__(
        self,
        n: int,
        on_batch: Callable[[BatchResult], None] | None,
        array: str = "attributes",
        arrays: Sequence[str] | None = None,
    ):
        # The /users/track array the rows go in: attributes, events or purchases -- or, with
        # `arrays`, each row's own (rows of several arrays then share requests).
        self.array = array
        self.arrays = arrays
        self.lock = threading.Lock()
        self.result = TrackResult(outcomes=[None] * n, batches=[])  # type: ignore[list-item]
        self.on_batch = on_batch
        self.batch_numbers = itertools.count(1)
        self.stop = False
        # Set with stop, so retry waits end at once on a fatal error or an interrupt.
        self.wake = threading.Event()
        self.fatal: BaseException | None = None
        self.gave_up: str | None = None
        self.total = n
        self.next_progress = time.monotonic() + PROGRESS_EVERY_S
        self.next_wait_note = 0.0

    def progress_due(self) -> bool:
        """True at most once per PROGRESS_EVERY_S; call under ``lock``."""
        now = time.monotonic()
        if now < self.next_progress:
            return False
        self.next_progress = now + PROGRESS_EVERY_S
        return True

    def wait_note_due(self) -> bool:
        now = time.monotonic()
        with self.lock:
            if now < self.next_wait_note:
                return False
            self.next_wait_note = now + PROGRESS_EVERY_S
            return True

    def add(self, counter: str, amount: int = 1) -> None:
        with self.lock:
            setattr(self.result, counter, getattr(self.result, counter) + amount)

    def fail(self, exc: BaseException) -> None:
        with self.lock:
            if self.fatal is None:
                self.fatal = exc
            self.stop = True
        self.wake.set()


class BrazeClient:
    def __init__(
        self,
        api_key: str,
        endpoint: str,
        *,
        objects_per_request: int = 75,
        rate_limit_requests: int = 3000,
        rate_limit_period_s: float = 3.0,
        concurrency: int = 8,
        timeout_s: float = 30.0,
        retry_budget_s: float = 300.0,
        instance_label: str | None = None,
        logger=None,
        export_rate_limit_requests: int = 250,
        export_rate_limit_period_s: float = 60.0,
        delete_rate_limit_requests: int = 20_000,
        delete_rate_limit_period_s: float = 60.0,
        max_request_bytes: int = MAX_REQUEST_BYTES,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 30.0,
    ) -> None:
        if not isinstance(api_key, str) or not api_key.strip():
            raise BrazeError("The Braze API key is empty: set BRAZE_API_KEY to a REST API key")
        if objects_per_request < 1:
            raise ValueError(f"objects_per_request must be >= 1, got {objects_per_request}")
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        if not timeout_s > 0:
            raise ValueError(f"timeout_s must be > 0 seconds, got {timeout_s}")
        if not retry_budget_s >= 0:
            raise ValueError(f"retry_budget_s must be >= 0 seconds, got {retry_budget_s}")
        self._api_key = api_key.strip()
        self.endpoint = endpoint.rstrip("/")
        self.instance_label = instance_label or instance_for_endpoint(self.endpoint)
        self.objects_per_request = int(objects_per_request)
        self.concurrency = int(concurrency)
        self.timeout_s = float(timeout_s)
        self.retry_budget_s = float(retry_budget_s)
        self.max_request_bytes = int(max_request_bytes)
        self.backoff_base_s = float(backoff_base_s)
        self.backoff_max_s = float(backoff_max_s)
        self.log = logger or _DEFAULT_LOGGER
        self._limiters = {
            TRACK_ROUTE: shared_limiter(
                self.endpoint, TRACK_ROUTE, rate_limit_requests, rate_limit_period_s
            ),
            EXPORT_ROUTE: shared_limiter(
                self.endpoint, EXPORT_ROUTE, export_rate_limit_requests, export_rate_limit_period_s
            ),
            DELETE_ROUTE: shared_limiter(
                self.endpoint, DELETE_ROUTE, delete_rate_limit_requests, delete_rate_limit_period_s
            ),
        }
        # Braze: delete, identify, alias/new and merge share one requests-per-minute limit.
        for route in (MERGE_ROUTE, ALIAS_NEW_ROUTE, IDENTIFY_ROUTE):
            self._limiters[route] = self._limiters[DELETE_ROUTE]
        self._limiters[SUBSCRIPTION_SET_ROUTE] = shared_limiter(
            self.endpoint, SUBSCRIPTION_SET_ROUTE, 5_000, 60.0
        )
        self._headers = {
            "Authorization": f"Bearer {self._api_key}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        self._pool = ConnectionPool(
            self.endpoint,
            size=self.concurrency,
            connect_timeout_s=min(10.0, self.timeout_s),
            read_timeout_s=self.timeout_s,
        )
        self._executor = ThreadPoolExecutor(
            max_workers=self.concurrency, thread_name_prefix="braze"
        )
        self._rng = random.Random()

    # ---- secrecy -------------------------------------------------------------------------------
    def __repr__(self) -> str:
        label = f"{self.instance_label} = " if self.instance_label else ""
        return f"BrazeClient({label}{self.endpoint}, {self.objects_per_request} objects/request)"

    __str__ = __repr__

    def __getstate__(self):
        raise TypeError("BrazeClient holds an API key and is not picklable; pass settings instead")

    def _redact(self, text: str) -> str:
        return text.replace(self._api_key, "***") if self._api_key in text else text

    def _where(self) -> str:
        if self.instance_label:
            return f"{self.instance_label} = {self.endpoint}"
        return self.endpoint

    # ---- lifecycle -----------------------------------------------------------------------------
    def close(self) -> None:
        self._executor.shutdown(wait=True)
        self._pool.close()

    def __enter__(self) -> BrazeClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- /users/track --------------------------------------------------------------------------
    def track_attributes(
        self,
        objects: Sequence[dict],
        *,
        on_batch: Callable[[BatchResult], None] | None = None,
        array: str = "attributes",
        arrays: Sequence[str] | None = None,
    ) -> TrackResult:
        """Send attribute objects (or, with ``array``, event or purchase objects); return one outcome per object, in input order.

        ``arrays`` names each object's array instead: attributes, events and purchases are then
        packed together, at most ``objects_per_request`` objects per request across the three
        (Braze's limit on current plans).

        ``objects`` are dicts, or (all of them) JSON objects already serialised to bytes -- e.g.
        lines of a polars ``write_ndjson`` -- which skips building Python dicts altogether.

        ``on_batch`` runs (serialised under a lock) as soon as each batch is final, so the caller
        can persist confirmed state batch by batch. A key, permission, endpoint or batch-size
        problem raises BrazeError carrying the partial result in ``.result`` (rows never sent
        are not_delivered there and are not passed to on_batch).
        """
        rows = objects if isinstance(objects, (list, tuple)) else list(objects)
        started = time.perf_counter()
        for name in {array} if arrays is None else set(arrays):
            if name not in TRACK_ARRAYS:
                raise ValueError(f"array must be attributes, events or purchases, not {name!r}")
        if arrays is not None and len(arrays) != len(rows):
            raise ValueError(f"arrays names {len(arrays)} arrays for {len(rows)} objects")
        run = _Run(len(rows), on_batch, array, arrays)
        per = self.objects_per_request
        starts = iter(range(0, len(rows), per))
        starts_lock = threading.Lock()

        def worker() -> None:
            while not run.stop:
                with starts_lock:
                    start = next(starts, None)
                if start is None:
                    return
                end = min(start + per, len(rows))
                try:
                    self._send_unit(run, list(range(start, end)), rows[start:end])
                except BaseException as exc:
                    run.fail(exc)
                    return

        workers = min(self.concurrency, (len(rows) + per - 1) // per)
        futures = [self._executor.submit(worker) for _ in range(workers)]
        interrupt: BaseException | None = None
        try:
            for future in futures:
                future.result()
        except BaseException as exc:
            # Ctrl-C or SIGTERM (raised in this thread): stop the workers now instead of letting
            # them retry for the whole budget; a request in flight still gets its answer recorded.
            interrupt = exc
            run.fail(exc)
            for future in futures:
                future.result()
        result = run.result
        if interrupt is not None:
            self._finish_unsent(run, "not sent: the run was interrupted")
        elif run.fatal is not None:
            self._finish_unsent(run, "not sent: the run stopped on an earlier error")
        result.elapsed_s = time.perf_counter() - started
        self.log.info(
            "Braze /users/track: %d delivered, %d rejected, %d not delivered in %d requests "
            "(%d retries, %d rate-limit waits) in %.1f s",
            result.delivered,
            result.rejected,
            result.not_delivered,
            result.requests,
            result.retries,
            result.rate_limit_waits,
            result.elapsed_s,
        )
        if interrupt is not None:
            raise interrupt
        if run.fatal is not None:
            if isinstance(run.fatal, BrazeError):
                run.fatal.result = result
            raise run.fatal
        return result

    def _send_unit(
        self, run: _Run, indices: list[int], batch: Sequence[dict] | Sequence[bytes]
    ) -> None:
        # Positions (in `indices`) of the rows of each array, in request order.
        if run.arrays is None:
            slots = {run.array: list(range(len(indices)))}
        else:
            slots = {}
            for position, index in enumerate(indices):
                slots.setdefault(run.arrays[index], []).append(position)
        if batch and isinstance(batch[0], (bytes, bytearray)):
            body = (
                b"{"
                + b",".join(
                    b'"' + name.encode() + b'":[' + b",".join(batch[p] for p in positions) + b"]"  # type: ignore[misc]
                    for name, positions in slots.items()
                )
                + b"}"
            )
        else:
            try:
                body = orjson.dumps(
                    {name: [batch[p] for p in positions] for name, positions in slots.items()},
                    option=_JSON_OPTIONS,
                )
            except TypeError:
                self._send_serialisable(run, indices, batch)
                return
        if len(body) > self.max_request_bytes:
            if len(batch) == 1:
                reason = (
                    f"object is {len(body):,} bytes as JSON, over Braze's request limit of "
                    f"{self.max_request_bytes:,} bytes; shorten its attributes"
                )
                self._finish(
                    run, indices, None, 0, 0.0, [_outcome(indices[0], NOT_DELIVERED, reason)]
                )
                return
            run.add("split_requests")
            half = len(batch) // 2
            self._send_unit(run, indices[:half], batch[:half])
            self._send_unit(run, indices[half:], batch[half:])
            return
        started = time.perf_counter()
        response = self._post(TRACK_ROUTE, body, run)
        elapsed_ms = (time.perf_counter() - started) * 1000.0
        status = response.status
        if status is not None and 200 <= status < 300 and response.error is None:
            outcomes, unmapped = self._map_errors(indices, response.body, slots)
            self._finish(run, indices, status, response.attempts, elapsed_ms, outcomes, unmapped)
            return
        if status == 413 and len(batch) > 1:
            run.add("split_requests")
            half = len(batch) // 2
            self._send_unit(run, indices[:half], batch[:half])
            self._send_unit(run, indices[half:], batch[half:])
            return
        reason = response.error or self._describe(status, response.body)
        self._finish(
            run,
            indices,
            status,
            response.attempts,
            elapsed_ms,
            [_outcome(i, NOT_DELIVERED, reason) for i in indices],
        )
        if status is not None:
            self._raise_if_fatal(TRACK_ROUTE, status, response.body, batch_size=len(batch))

    def _send_serialisable(self, run: _Run, indices: list[int], batch: Sequence[dict]) -> None:
        """Report rows JSON cannot represent and send the others."""
        good_idx, good_rows, bad = [], [], []
        for index, row in zip(indices, batch):
            try:
                orjson.dumps(row, option=_JSON_OPTIONS)
            except TypeError as exc:
                bad.append(
                    _outcome(index, NOT_DELIVERED, f"row {index} is not JSON-serialisable: {exc}")
                )
            else:
                good_idx.append(index)
                good_rows.append(row)
        self._finish(run, [o.index for o in bad], None, 0, 0.0, bad)
        if good_rows:
            self._send_unit(run, good_idx, good_rows)

    @staticmethod
    def _map_errors(
        indices: list[int], body: dict, slots: dict[str, list[int]] | None = None
    ) -> tuple[list[RowOutcome], list[dict]]:
        """Outcomes of a 2xx answer: Braze's per-object errors name the array and the index in
        it; `slots` maps each array to the positions (in `indices`) of its objects (default:
        all attributes)."""
        if slots is None:
            slots = {"attributes": list(range(len(indices)))}
        errors = body.get("errors") if body else None
        if not errors:
            return [_outcome(i, DELIVERED, None) for i in indices], []
        rejected: dict[int, str] = {}
        unmapped: list[dict] = []
        for error in errors:
            index = error.get("index") if isinstance(error, dict) else None
            positions = (
                slots.get(error.get("input_array", "attributes"))
                if isinstance(error, dict)
                else None
            )
            position = (
                positions[index]
                if positions is not None and isinstance(index, int) and 0 <= index < len(positions)
                else None
            )
            if position is not None:
                text = str(error.get("type") or error.get("message") or error)
                rejected[position] = (
                    f"{rejected[position]}; {text}" if position in rejected else text
                )
            else:
                unmapped.append(error if isinstance(error, dict) else {"error": error})
        outcomes = [
            _outcome(i, REJECTED, rejected[p]) if p in rejected else _outcome(i, DELIVERED, None)
            for p, i in enumerate(indices)
        ]
        return outcomes, unmapped

    def _finish(
        self,
        run: _Run,
        indices: list[int],
        status: int | None,
        attempts: int,
        elapsed_ms: float,
        outcomes: list[RowOutcome],
        unmapped: list[dict] | None = None,
    ) -> None:
        if not outcomes:
            return
        with run.lock:
            batch = BatchResult(
                next(run.batch_numbers),
                indices,
                status,
                attempts,
                elapsed_ms,
                outcomes,
                unmapped or [],
            )
            result = run.result
            slots = result.outcomes
            delivered = rejected = 0
            for row in outcomes:
                slots[row.index] = row
                if row.status is DELIVERED:
                    delivered += 1
                elif row.status is REJECTED:
                    rejected += 1
            result.delivered += delivered
            result.rejected += rejected
            result.not_delivered += len(outcomes) - delivered - rejected
            result.batches.append(batch)
            if run.progress_due():
                done = result.delivered + result.rejected + result.not_delivered
                self.log.info(
                    "Braze /users/track: %d batches sent, %d of %d rows done (%d delivered, %d rejected), %d left",
                    len(result.batches),
                    done,
                    run.total,
                    result.delivered,
                    result.rejected,
                    run.total - done,
                )
            if unmapped:
                self.log.warning(
                    "Braze batch %d returned %d errors without a row index: %s",
                    batch.batch_no,
                    len(unmapped),
                    self._redact(str(unmapped[:3])),
                )
            if run.on_batch is not None:
                run.on_batch(batch)

    def _finish_unsent(self, run: _Run, reason: str) -> None:
        """Report rows never sent after a fatal error; on_batch is not called for them (Braze
        did not see them, and on_batch itself may be what failed)."""
        with run.lock:
            run.on_batch = None
            missing = [i for i, row in enumerate(run.result.outcomes) if row is None]
        for start in range(0, len(missing), self.objects_per_request):
            chunk = missing[start : start + self.objects_per_request]
            self._finish(
                run, chunk, None, 0, 0.0, [_outcome(i, NOT_DELIVERED, reason) for i in chunk]
            )

    # ---- transport + retries -------------------------------------------------------------------
    def _post(self, route: str, body: bytes, run: _Run) -> _Response:
        """POST with retries on 429, 5xx, timeouts and dropped connections within the budget."""
        limiter: FixedWindowLimiter = self._limiters[route]
        url = self.endpoint + route
        first_try = time.monotonic()
        attempts = 0
        last_error: str | None = None
        while True:
            if run.stop:
                return _Response(
                    None,
                    {},
                    {},
                    attempts,
                    last_error or "not sent: the run stopped on an earlier error",
                )
            if run.gave_up is not None:
                return _Response(None, {}, {}, attempts, f"retry budget exhausted: {run.gave_up}")
            if limiter.acquire(run.wake) > 0:
                run.add("rate_limit_waits")
            if run.stop:
                continue  # woken by an interrupt or a fatal error: send nothing more
            attempts += 1
            run.add("requests")
            try:
                raw = self._pool.post(route, body, self._headers)
            except TlsError as exc:
                raise BrazeError(
                    f"{exc} ({self._where()}); check the REST endpoint and the system CA store"
                ) from None
            except TransportError as exc:
                status, headers, parsed = None, {}, {}
                last_error = self._redact(f"{exc} ({url})")
                run.add("transport_errors")
            else:
                run.add("bytes_sent", len(body))
                status = raw.status
                headers = raw.headers
                parsed = self._parse(raw.body)
                self._observe_window(limiter, headers)
                if 200 <= status < 300:
                    # A proxy, captive portal or wrong host can answer 2xx too; only an answer of
                    # Braze's shape means Braze accepted the rows (no retry: it may have reached
                    # Braze, and the rows stay pending for the next run anyway).
                    unlike = self._not_braze(route, status, headers, raw.body)
                    if unlike is not None:
                        self.log.warning("Braze %s: %s", route, unlike)
                        return _Response(status, {}, headers, attempts, unlike)
                if status < 400 or (status < 500 and status != 429):
                    return _Response(status, parsed, headers, attempts, None)
                last_error = self._describe(status, parsed)
                run.add("rate_limited" if status == 429 else "server_errors")
            wait = self._retry_wait(status, headers, attempts)
            if time.monotonic() + wait - first_try > self.retry_budget_s:
                with run.lock:
                    if run.gave_up is None:
                        run.gave_up = last_error
                self.log.warning(
                    "Braze %s: giving up after %d attempts in %.0f s (retry budget %.0f s): %s",
                    route,
                    attempts,
                    time.monotonic() - first_try,
                    self.retry_budget_s,
                    last_error,
                )
                return _Response(
                    None,
                    {},
                    {},
                    attempts,
                    f"retry budget exhausted after {attempts} attempts: {last_error}",
                )
            if status == 429:
                limiter.pause_until(time.time() + wait)
            if run.wait_note_due():
                self.log.info(
                    "Braze %s: %s; waiting %.1f s before retrying (attempt %d)",
                    route,
                    last_error,
                    wait,
                    attempts,
                )
            run.add("retries")
            self.log.debug("Braze %s: %s; retry %d in %.2f s", route, last_error, attempts, wait)
            run.wake.wait(wait)

    def _not_braze(self, route: str, status: int, headers, data: bytes) -> str | None:
        """Why a 2xx answer is not what Braze sends (None when it is): Braze answers every
        route with a JSON object carrying a "message" string, as application/json."""
        content_type = (headers.get("Content-Type") if headers else None) or "no content type"
        where = f"HTTP {status} ({content_type}) from {self.endpoint}{route}"
        try:
            parsed = orjson.loads(data) if data else None
        except orjson.JSONDecodeError:
            problem = "the body is not JSON"
        else:
            if not data:
                problem = "the body is empty"
            elif not isinstance(parsed, dict):
                problem = f"the body is a JSON {type(parsed).__name__}, not an object"
            elif not isinstance(parsed.get("message"), str):
                problem = 'the JSON has no "message" field'
            elif "errors" in parsed and not isinstance(parsed["errors"], list):
                problem = 'its "errors" is not a list'
            elif "json" not in content_type.lower():
                problem = "the content type is not JSON"
            else:
                return None
        return self._redact(
            f"not Braze's answer: {where}: {problem}; not delivered (a proxy, captive portal or "
            "wrong host? check the REST endpoint)"
        )

    @staticmethod
    def _parse(data: bytes) -> dict:
        if not data:
            return {}
        try:
            parsed = orjson.loads(data)
        except orjson.JSONDecodeError:
            return {"message": data[:200].decode("utf-8", "replace")}
        return parsed if isinstance(parsed, dict) else {"message": str(parsed)[:200]}

    @staticmethod
    def _observe_window(limiter: FixedWindowLimiter, headers) -> None:
        remaining = headers.get("X-RateLimit-Remaining")
        if remaining is not None and remaining.strip() in ("0", "-1"):
            reset = headers.get("X-RateLimit-Reset")
            try:
                limiter.observe(int(remaining), float(reset) if reset else None)
            except ValueError:
                pass

    def _retry_wait(self, status: int | None, headers, attempt: int) -> float:
        """Retry-After if present, else X-RateLimit-Reset (for 429), else exponential backoff + jitter."""
        retry_after = headers.get("Retry-After") if headers else None
        if retry_after:
            try:
                return max(0.0, float(retry_after))
            except ValueError:
                try:
                    when = email.utils.parsedate_to_datetime(retry_after).timestamp()
                    return max(0.0, when - time.time())
                except (TypeError, ValueError):
                    pass
        reset = headers.get("X-RateLimit-Reset") if headers else None
        if status == 429 and reset:
            try:
                # Small jitter so every thread does not hit the new window in the same millisecond.
                return max(0.0, float(reset) - time.time()) + self._rng.uniform(0.0, 0.05)
            except ValueError:
                pass
        ceiling = min(self.backoff_max_s, self.backoff_base_s * (2 ** (attempt - 1)))
        return self._rng.uniform(ceiling / 2, ceiling)

    @staticmethod
    def _describe(status: int | None, body: dict) -> str:
        message = body.get("message") if body else None
        detail = f": {message}" if message else ""
        errors = body.get("errors") if body else None
        if errors and status is not None and status >= 400:
            detail += f" {str(errors)[:300]}"
        return f"HTTP {status}{detail}"

    def _raise_if_fatal(self, route: str, status: int, body: dict, *, batch_size: int = 0) -> None:
        message = str(body.get("message") or "") if body else ""
        if status == 401:
            raise BrazeError(
                f"Braze answered 401 Unauthorized on {route}: the API key is invalid or belongs to a "
                f"different instance (you configured {self._where()}). Check BRAZE_API_KEY and the "
                "instance / BRAZE_REST_ENDPOINT shown in the Braze dashboard under Settings > APIs "
                "and Identifiers.",
                status=status,
            )
        if status == 403:
            permission = _ROUTE_PERMISSION.get(route, route)
            raise BrazeError(
                f"Braze answered 403 Forbidden on {route} ({self._where()}): the API key lacks the "
                f"{permission} permission (or the plan does not include this endpoint). Add "
                f"{permission} to the key in Settings > APIs and Identifiers.",
                status=status,
            )
        if status == 404:
            raise BrazeError(
                f"Braze answered 404 Not Found for {self.endpoint}{route}: the REST endpoint looks "
                f"wrong (you configured {self._where()}). Use the REST endpoint of your instance, "
                "for example https://rest.iad-03.braze.com, not the dashboard URL.",
                status=status,
            )
        if status == 400 and "max input length" in message.lower():
            raise BrazeError(
                f"Braze answered 400 '{message}' for a batch of {batch_size} objects "
                f"({self._where()}): your plan accepts fewer objects per request. Lower "
                "objects_per_request (75 on data-point plans, 50 on some plans).",
                status=status,
            )

    # ---- /users/export/ids and /users/delete ---------------------------------------------------
    def _post_ids(self, route: str, payload: dict) -> dict:
        run = _Run(0, None)
        response = self._post(route, orjson.dumps(payload), run)
        if response.status is None or response.error is not None:
            raise BrazeError(
                f"Braze {route} failed ({self._where()}): {response.error}", status=response.status
            )
        self._raise_if_fatal(route, response.status, response.body)
        if not 200 <= response.status < 300:
            raise BrazeError(
                f"Braze {route} failed ({self._where()}): {self._describe(response.status, response.body)}",
                status=response.status,
            )
        return response.body

    def export_ids(
        self,
        external_ids: Sequence[str],
        fields_to_export: Sequence[str] | None = None,
        *,
        user_aliases: Sequence[tuple[str, str]] = (),
    ) -> list[dict]:
        """Read profiles back by external id and / or (alias_name, alias_label), 50 per request,
        under the export rate limit."""
        users: list[dict] = []
        ids = [("external_ids", i) for i in external_ids] + [
            ("user_aliases", {"alias_name": name, "alias_label": label})
            for name, label in user_aliases
        ]
        for start in range(0, len(ids), IDS_PER_REQUEST):
            payload: dict = {}
            for key, value in ids[start : start + IDS_PER_REQUEST]:
                payload.setdefault(key, []).append(value)
            if fields_to_export is not None:
                payload["fields_to_export"] = list(fields_to_export)
            users.extend(self._post_ids(EXPORT_ROUTE, payload).get("users") or [])
        return users

    def delete_users(self, external_ids: Sequence[str]) -> int:
        """Delete profiles by external id, 50 per request; return how many Braze deleted."""
        return self._post_batches(DELETE_ROUTE, "external_ids", list(external_ids), "deleted")

    def delete_aliases(self, aliases: Sequence[tuple[str, str]]) -> int:
        """Delete profiles by (alias_name, alias_label), 50 per request; return how many Braze deleted."""
        items = [{"alias_name": name, "alias_label": label} for name, label in aliases]
        return self._post_batches(DELETE_ROUTE, "user_aliases", items, "deleted")

    def _post_batches(self, route: str, field: str, items: list, counted: str | None) -> int:
        """POST `items` to `route` as the body's `field`, 50 per request; the sum of the answers'
        `counted` numbers (0 when None)."""
        total = 0
        for start in range(0, len(items), IDS_PER_REQUEST):
            body = self._post_ids(route, {field: items[start : start + IDS_PER_REQUEST]})
            total += int(body.get(counted) or 0) if counted else 0
        return total

    # ---- /users/merge, /users/alias/new, /users/identify ---------------------------------------
    def merge_users(self, updates: Sequence[tuple[dict, dict]]) -> int:
        """Merge profiles: each (identifier_to_merge, identifier_to_keep), e.g.
        ({"external_id": "old"}, {"external_id": "kept"}); 50 per request. Braze accepts merges
        asynchronously (202, no per-update result); returns the number of updates accepted.
        Raises BrazeError when a request is refused."""
        items = [
            {"identifier_to_merge": dict(gone), "identifier_to_keep": dict(kept)}
            for gone, kept in updates
        ]
        self._post_batches(MERGE_ROUTE, "merge_updates", items, None)
        return len(items)

    def new_aliases(self, aliases: Sequence[dict]) -> int:
        """Create alias profiles: each {"alias_name", "alias_label"} plus an optional
        "external_id" (then the alias is added to that profile); 50 per request."""
        items = [dict(a) for a in aliases]
        return self._post_batches(ALIAS_NEW_ROUTE, "user_aliases", items, "aliases_processed")

    def identify_users(self, pairs: Sequence[tuple[str, str, str]]) -> int:
        """Identify alias profiles: each (external_id, alias_name, alias_label); 50 per request."""
        items = [
            {
                "external_id": external_id,
                "user_alias": {"alias_name": name, "alias_label": label},
            }
            for external_id, name, label in pairs
        ]
        return self._post_batches(IDENTIFY_ROUTE, "aliases_to_identify", items, "aliases_processed")

    # ---- /v2/subscription/status/set -----------------------------------------------------------
    def set_subscription_states(
        self, group_id: str, state: str, external_ids: Sequence[str]
    ) -> int:
        """Set one subscription group's state ("subscribed" | "unsubscribed") for external ids,
        50 per request; return the number of users sent."""
        ids = list(external_ids)
        for start in range(0, len(ids), IDS_PER_REQUEST):
            self._post_ids(
                SUBSCRIPTION_SET_ROUTE,
                {
                    "subscription_groups": [
                        {
                            "subscription_group_id": group_id,
                            "subscription_state": state,
                            "external_ids": ids[start : start + IDS_PER_REQUEST],
                        }
                    ]
                },
            )
        return len(ids)
