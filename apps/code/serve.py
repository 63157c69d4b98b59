"""``dlm-code serve``: the infiller behind the completion API that editor plugins speak.

Endpoints
* ``POST /v1/completions``: OpenAI's completion request, ``prompt`` the code before the hole and ``suffix``
  the code after it (``max_tokens``, ``n``, ``temperature``, ``stop``, ``seed``; extra fields ``language``
  and ``truncate``), answered in OpenAI's shape (``choices[i].text``, ``finish_reason``, ``usage``).
* ``POST /infill``: the shape llama.cpp's editor plugins send (``input_prefix``, ``input_suffix``,
  ``n_predict``, ``temperature``, ``seed``, ``stop``), answered as llama.cpp does (``content``, ``stop``).
* ``GET /v1/models``, ``GET /health``.

The language is the request's ``language`` field, else the grammar under which the code around the hole
parses with the fewest errors; syntax remasking is on unless the server runs with ``--no-syntax-remask``.

Batching: requests wait in a bounded queue; a worker takes the first, collects others for up to
``max_wait_ms`` or until ``max_batch_rows`` canvas rows, and fills them with ``BatchInfiller`` in one
batched canvas per temperature, in a worker thread, so the event loop keeps answering. A full queue answers
503 with ``Retry-After``. A client that disconnects while its request waits frees its place (the worker
skips it). On shutdown (SIGTERM) the server stops taking requests (503), finishes the batch it is
running and the requests already queued, then exits.

Errors use OpenAI's shape, ``{"error": {"message", "type", "param", "code"}}``: 400 for a malformed body
or a value out of range (a prompt that does not fit the window is ``context_length_exceeded``), 404 for
an unknown model, 503 when full or stopping.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from apps.code.batch import (
    BatchInfiller,
    Filled,
    FillRequest,
    Planned,
    RequestError,
    guess_language,
)
from apps.code.grammars import GRAMMARS

MAX_BODY_BYTES = 1 << 20  # 1 MiB of JSON at most
LOG = logging.getLogger("uvicorn.error")  # uvicorn's own server log, so lines land where its others do


class ApiError(Exception):
    def __init__(self, status: int, message: str, kind: str = "invalid_request_error", param: str | None = None,
                 code: str | None = None, headers: dict | None = None):  # fmt: skip
        super().__init__(message)
        self.status, self.kind, self.param, self.code, self.headers = status, kind, param, code, headers or {}

    def response(self) -> JSONResponse:
        body = {"error": {"message": str(self), "type": self.kind, "param": self.param, "code": self.code}}
        return JSONResponse(body, status_code=self.status, headers=self.headers)


@dataclass
class ServeConfig:
    model_name: str = "code-default"
    max_batch_rows: int = 64  # canvas rows per batch (a request takes n x the hole lengths tried)
    max_wait_ms: float = 10.0  # how long the worker waits for more requests after the first
    max_queue: int = 64  # requests waiting at most; past it: 503
    retry_after_s: int = 1
    truncate: bool = False  # the default of a request's "truncate"
    default_max_tokens: int = 32


@dataclass
class _Job:
    plan: Planned  # the request laid out by BatchInfiller.check when it was submitted
    future: asyncio.Future

    @property
    def request(self) -> FillRequest:
        return self.plan.request

    @property
    def rows(self) -> int:
        return self.plan.hole.canvas.shape[0]


@dataclass
class Stats:
    batches: int = 0
    requests: int = 0
    largest_batch: int = 0
    skipped_disconnected: int = 0
    sizes: list[int] = field(default_factory=list)


class InfillService:
    """The queue, the batching worker and the thread that runs the model."""

    def __init__(self, infiller: BatchInfiller, config: ServeConfig):
        self.infiller, self.config = infiller, config
        self.queue: asyncio.Queue[_Job] | None = None
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="infill")
        self.accepting = False
        self.worker: asyncio.Task | None = None
        self.stats = Stats()

    async def start(self) -> None:
        self.queue = asyncio.Queue(maxsize=self.config.max_queue)
        self.accepting = True
        self.worker = asyncio.create_task(self._work())

    async def stop(self) -> None:
        """Stop taking requests, finish those queued and the batch running, then stop the worker."""
        self.accepting = False
        if self.queue is not None:
            await self.queue.join()
        if self.worker is not None:
            self.worker.cancel()
            await asyncio.gather(self.worker, return_exceptions=True)
        self.executor.shutdown(wait=True)

    async def submit(self, request: FillRequest) -> _Job:
        if not self.accepting or self.queue is None:
            raise ApiError(503, "the server is shutting down", "server_error", code="shutting_down")
        # bad input fails here, before it takes a place; tokenizing and laying out the prompt take time in
        # proportion to it, so they run in a thread and the event loop keeps answering other clients
        plan = await asyncio.to_thread(self.infiller.check, request)
        job = _Job(plan, asyncio.get_running_loop().create_future())
        try:
            self.queue.put_nowait(job)
        except asyncio.QueueFull:
            raise ApiError(
                503, f"the server is busy ({self.config.max_queue} requests waiting); retry shortly", "server_error",
                code="overloaded", headers={"Retry-After": str(self.config.retry_after_s)},
            ) from None  # fmt: skip
        return job

    async def _work(self) -> None:
        assert self.queue is not None
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self.queue.get()]
            deadline = loop.time() + self.config.max_wait_ms / 1000
            while sum(j.rows for j in batch) < self.config.max_batch_rows:
                try:
                    batch.append(await asyncio.wait_for(self.queue.get(), max(deadline - loop.time(), 0)))
                except (TimeoutError, asyncio.TimeoutError):
                    break
            try:
                live = [j for j in batch if not j.future.done()]  # cancelled: its client went away
                self.stats.skipped_disconnected += len(batch) - len(live)
                for temperature in sorted({j.request.temperature for j in live}):
                    group = [j for j in live if j.request.temperature == temperature]
                    results = await loop.run_in_executor(self.executor, self.infiller.fill, [j.plan for j in group])
                    for job, result in zip(group, results):
                        if not job.future.done():
                            job.future.set_result(result)
                    self.stats.batches += 1
                    self.stats.requests += len(group)
                    self.stats.largest_batch = max(self.stats.largest_batch, len(group))
                    self.stats.sizes.append(len(group))
            except Exception as error:  # a fault in the model: every request of the batch gets it, the worker lives
                for job in batch:
                    if not job.future.done():
                        job.future.set_exception(error)
            finally:
                for _ in batch:
                    self.queue.task_done()


class ClientGone(Exception):
    """The client disconnected while its request waited."""


async def _wait(job: _Job, request: Request) -> Filled:
    """The job's result; if the client disconnects first, the job is cancelled (the worker skips it)."""
    while True:
        done, _ = await asyncio.wait({job.future}, timeout=0.05)
        if done:
            return job.future.result()
        if await request.is_disconnected():
            job.future.cancel()
            raise ClientGone


async def _body(request: Request) -> dict:
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise ApiError(413, f"the body holds {len(raw)} bytes; at most {MAX_BODY_BYTES}")
    try:
        body = json.loads(raw or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ApiError(400, f"the body is not JSON: {error}") from None
    if not isinstance(body, dict):
        raise ApiError(400, "the body must be a JSON object")
    return body


def _field(body: dict, name: str, kinds: tuple[type, ...], default=None, required: bool = False):
    if name not in body or body[name] is None:
        if required:
            raise ApiError(400, f"missing required field {name!r}", param=name)
        return default
    value = body[name]
    if isinstance(value, bool) and bool not in kinds:
        raise ApiError(400, f"{name!r} must be {' or '.join(k.__name__ for k in kinds)}, got a boolean", param=name)
    if not isinstance(value, kinds):
        raise ApiError(400, f"{name!r} must be {' or '.join(k.__name__ for k in kinds)}, got {type(value).__name__}", param=name)
    if isinstance(value, float) and not math.isfinite(value):
        raise ApiError(400, f"{name!r} must be a finite number", param=name)
    return value


def _stop(value) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(s, str) for s in value) and len(value) <= 4:
        return tuple(value)
    raise ApiError(400, "'stop' must be a string or a list of at most 4 strings", param="stop")


def _language(body: dict, prefix: str, suffix: str) -> str:
    language = _field(body, "language", (str,))
    if language is None:
        return guess_language(prefix, suffix)
    if language not in GRAMMARS:
        raise ApiError(400, f"unknown language {language!r}; known: {', '.join(sorted(GRAMMARS))}", param="language")
    return language


def create_app(infiller: BatchInfiller, config: ServeConfig = ServeConfig()) -> FastAPI:
    """The FastAPI app. Long, but flat: the routes are closures over one service and its config, one after another."""
    service = InfillService(infiller, config)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await service.start()
        yield
        await service.stop()

    app = FastAPI(title="dlm-code serve", lifespan=lifespan)
    app.state.service = service

    @app.exception_handler(ApiError)
    async def api_error(request: Request, error: ApiError):
        return error.response()

    @app.exception_handler(404)
    async def not_found(request: Request, error):
        return ApiError(404, f"no route {request.method} {request.url.path}", code="not_found").response()

    @app.exception_handler(405)
    async def not_allowed(request: Request, error):
        return ApiError(405, f"{request.method} is not allowed on {request.url.path}").response()

    @app.get("/health")
    async def health():
        queued = service.queue.qsize() if service.queue is not None else 0
        return {"status": "ok" if service.accepting else "stopping", "model": config.model_name, "queued": queued}

    @app.get("/v1/models")
    async def models():
        return {"object": "list", "data": [{"id": config.model_name, "object": "model", "created": 0, "owned_by": "dlm"}]}

    def fill_request(body: dict, prefix: str, suffix: str, max_tokens_field: str) -> FillRequest:
        max_tokens = _field(body, max_tokens_field, (int,), config.default_max_tokens)
        if max_tokens == -1 and max_tokens_field == "n_predict":  # llama.cpp: -1 is "no limit"
            max_tokens = config.default_max_tokens
        temperature = _field(body, "temperature", (int, float), 0.5)
        seed = _field(body, "seed", (int,), 0)
        request = FillRequest(
            prefix, suffix, _language(body, prefix, suffix), n=_field(body, "n", (int,), 1), max_tokens=max_tokens,
            temperature=float(temperature), stop=_stop(body.get("stop")), seed=seed,
            truncate=_field(body, "truncate", (bool,), config.truncate),
        )  # fmt: skip
        if request.n > 16:
            raise ApiError(400, f"n must be at most 16, got {request.n}", param="n")
        return request

    @app.exception_handler(ClientGone)
    async def client_gone(request: Request, error: ClientGone):
        # one line at info level: a client that gives up is not a fault of the server (no traceback in the log)
        LOG.info("client %s disconnected from %s before its answer; its request was dropped",
                 request.client.host if request.client else "?", request.url.path)  # fmt: skip
        return Response(status_code=499)  # nginx's "client closed request"; nobody is there to read it

    async def run(request: FillRequest, http: Request) -> Filled:
        try:
            job = await service.submit(request)
        except RequestError as error:
            raise ApiError(400, str(error), param=error.param, code=error.code) from None
        except ValueError as error:
            raise ApiError(400, str(error)) from None
        return await _wait(job, http)

    @app.post("/v1/completions")
    async def completions(http: Request):
        body = await _body(http)
        model = _field(body, "model", (str,), required=True)
        if model != config.model_name:
            raise ApiError(404, f"the model {model!r} does not exist; this server has {config.model_name!r}",
                           param="model", code="model_not_found")  # fmt: skip
        prompt = _field(body, "prompt", (str, list), required=True)
        if isinstance(prompt, list):
            if len(prompt) != 1 or not isinstance(prompt[0], str):
                raise ApiError(400, "'prompt' must be one string (one hole per request)", param="prompt")
            prompt = prompt[0]
        suffix = _field(body, "suffix", (str,), "")
        if _field(body, "stream", (bool,), False):
            raise ApiError(400, "streaming is not supported: a diffusion model fills the whole hole at once", param="stream")
        # reading the request (the language guess parses the code near the hole) runs off the event loop
        filled = await run(await asyncio.to_thread(fill_request, body, prompt, suffix, "max_tokens"), http)
        completion = sum(c.tokens for c in filled.choices)
        return {
            "id": f"cmpl-{uuid.uuid4().hex[:24]}",
            "object": "text_completion",
            "created": int(time.time()),
            "model": config.model_name,
            "choices": [
                {"index": i, "text": c.text, "logprobs": None, "finish_reason": c.finish_reason}
                for i, c in enumerate(filled.choices)
            ],
            "usage": {"prompt_tokens": filled.prompt_tokens, "completion_tokens": completion,
                      "total_tokens": filled.prompt_tokens + completion},  # fmt: skip
        }

    @app.post("/infill")
    async def llama_infill(http: Request):
        body = await _body(http)
        prefix = _field(body, "input_prefix", (str,), required=True)
        suffix = _field(body, "input_suffix", (str,), "")
        prompt = _field(body, "prompt", (str,), "")  # llama.cpp: text right before the cursor, after input_prefix
        request = await asyncio.to_thread(fill_request, body, prefix + prompt, suffix, "n_predict")
        request.n = 1
        filled = await run(request, http)
        choice = filled.choices[0]
        return {
            "content": choice.text,
            "stop": True,
            "stopped_eos": choice.finish_reason == "stop",
            "stopped_limit": choice.finish_reason == "length",
            "model": config.model_name,
            "tokens_predicted": choice.tokens,
            "tokens_evaluated": filled.prompt_tokens,
            "truncated": filled.truncated,
        }

    return app


def serve(infiller: BatchInfiller, host: str, port: int, config: ServeConfig, graceful_s: float = 30.0) -> None:
    """Run the server until SIGINT or SIGTERM: uvicorn stops accepting connections and waits for the requests
    it holds (at most ``graceful_s``), the service finishes its queue, and the process exits with status 0."""
    import uvicorn

    class Server(uvicorn.Server):
        @contextmanager
        def capture_signals(self):
            with super().capture_signals():
                yield
                # uvicorn raises a caught SIGTERM again once shut down (exit status -15); a drained stop is clean
                self._captured_signals.clear()

    app = create_app(infiller, config)
    Server(uvicorn.Config(app, host=host, port=port, log_level="info", timeout_graceful_shutdown=graceful_s)).run()

