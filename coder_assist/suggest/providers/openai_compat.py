"""LLM provider for any OpenAI-compatible chat endpoint (OpenAI, Azure-style gateways, Ollama,
vLLM, LM Studio, llama.cpp), through LangChain's ``ChatOpenAI``.

Structured output: the pydantic schema is sent as a strict ``json_schema`` response format; a
server that refuses it is asked again with function calling, then with JSON mode (the schema in
the prompt). The reply is parsed here rather than inside the SDK, so the raw text is kept even
when it is invalid. Faults: 429, 5xx, timeouts and connection errors are retried with
exponential backoff and jitter, honouring Retry-After, up to ``max_attempts``; invalid output gets
one repair request. Nothing here raises for a model or transport fault: the reply carries it,
scrubbed of credentials (``secrets.scrub``: an endpoint may echo the key in an error body).
A 401 or 403 is not retried: it raises :class:`AuthenticationFailed` at once, naming the endpoint.
"""

from __future__ import annotations

import ipaddress
import json
import os
import random
import threading
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlparse

from pydantic import BaseModel, ValidationError

from ..pacing import Pacer
from ..secrets import safe_url, scrub_reply
from .base import AuthenticationFailed, CodeProposal, CodingInput, ProviderReply, Usage

METHODS = ("json_schema", "function_calling", "json_mode")


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class OpenAICompatProvider:
    """Chat completions with structured output, retries and repair."""

    name = "openai"
    prompt_id = "initial-coding"

    def __init__(
        self, model: str, base_url: str = "", api_key: str | None = None, *, temperature: float = 0.0,
        seed: int | None = 42, timeout: float = 60.0, max_attempts: int = 5, method: str = "auto",
        backoff_base: float = 1.0, backoff_max: float = 60.0, sleep: Callable[[float], None] = time.sleep,
        concurrency: int = 4, rpm: int = 0, tpm: int = 0,
    ) -> None:  # fmt: skip
        if method not in ("auto", *METHODS):
            raise ValueError(f"unknown structured-output method {method!r}")
        self.model = model or "gpt-4o-mini"
        self.base_url = base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1"
        self.api_key = api_key or os.environ.get("OPENAI_API_KEY") or "not-needed-for-local-servers"
        self.base_host = urlparse(self.base_url).hostname
        self.remote = not is_loopback(self.base_host)
        self.temperature, self.seed, self.timeout = temperature, seed, timeout
        self.max_attempts, self.backoff_base, self.backoff_max = max_attempts, backoff_base, backoff_max
        self.method = "json_schema" if method == "auto" else method
        self.auto = method == "auto"
        self._sleep = sleep
        self._rng = random.Random(seed)
        self.concurrency, self.rpm, self.tpm = concurrency, rpm, tpm
        """Calls in flight at most, and client-side requests / tokens per minute (0: no limit)."""
        self.pacer: Pacer | None = None
        self._lock = threading.Lock()
        self._bound_cache: dict[tuple[str, type[BaseModel]], Any] = {}
        """Set by a concurrent run: shared rate limits and the adaptive window (``pacing.Pacer``)."""

    def params(self) -> dict[str, Any]:
        return {"temperature": self.temperature, "seed": self.seed, "structured_output": "auto" if self.auto else self.method}

    # -- transport -----------------------------------------------------------------------------
    def _chat(self) -> Any:
        from langchain_openai import ChatOpenAI

        return ChatOpenAI(
            model=self.model, base_url=self.base_url, api_key=self.api_key, temperature=self.temperature,
            seed=self.seed, timeout=self.timeout, max_retries=0, use_responses_api=False,
        )  # fmt: skip

    def _bound(self, method: str, schema_cls: type[BaseModel] = CodeProposal) -> Any:
        """The chat model bound to a structured-output method, built once per provider and reused
        by every call and worker thread (building a client per call costs more than a fast reply)."""
        key = (method, schema_cls)
        with self._lock:
            bound = self._bound_cache.get(key)
            if bound is None:
                bound = self._bound_cache[key] = self._bind(method, schema_cls)
        return bound

    def _bind(self, method: str, schema_cls: type[BaseModel]) -> Any:
        chat = self._chat()
        schema = schema_cls.model_json_schema()
        if method == "json_schema":
            strict = _strict(schema)
            return chat.bind(response_format={"type": "json_schema", "json_schema": {"name": schema_cls.__name__, "schema": strict, "strict": True}})
        if method == "function_calling":
            return chat.bind_tools([schema_cls], tool_choice=schema_cls.__name__)
        return chat.bind(response_format={"type": "json_object"})

    @staticmethod
    def _messages(system: str, user: str, method: str, schema_cls: type[BaseModel] = CodeProposal) -> list[tuple[str, str]]:
        if method == "json_mode":
            system += "\n\nReply with one JSON object only, matching this JSON schema:\n" + json.dumps(schema_cls.model_json_schema())
        return [("system", system), ("user", user)]

    def _invoke(self, messages: list[tuple[str, str]], method: str, schema_cls: type[BaseModel] = CodeProposal) -> tuple[Any, int]:
        """One request with retries for transient faults. Returns (AIMessage, attempts)."""
        import openai

        attempt = 0
        pacer = self.pacer
        tokens = sum(len(m[1]) for m in messages) // 4  # a rough count is enough for pacing
        while True:
            attempt += 1
            try:
                if pacer is not None:
                    pacer.wait_turn(tokens)
                message = self._bound(method, schema_cls).invoke(messages)
                if pacer is not None:
                    pacer.succeeded()
                return message, attempt
            except (openai.RateLimitError, openai.InternalServerError, openai.APIConnectionError) as exc:
                if pacer is not None and isinstance(exc, openai.RateLimitError):
                    pacer.throttled(_retry_after(getattr(exc, "response", None)))
                if attempt >= self.max_attempts:
                    raise
                self._sleep(self._delay(attempt, exc))
            except openai.APIStatusError as exc:
                if exc.status_code in (408, 409, 425) or exc.status_code >= 500:
                    if attempt >= self.max_attempts:
                        raise
                    self._sleep(self._delay(attempt, exc))
                    continue
                raise

    def _delay(self, attempt: int, exc: Exception) -> float:
        backoff = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
        backoff *= 0.5 + self._rng.random() / 2  # jitter
        retry_after = _retry_after(getattr(exc, "response", None))
        return max(backoff, min(retry_after, self.backoff_max * 4)) if retry_after is not None else backoff

    # -- the provider call --------------------------------------------------------------------
    def propose(self, item: CodingInput) -> ProviderReply:
        return self.structured(item.system, item.user, CodeProposal)

    def structured(self, system: str, user: str, schema_cls: type[BaseModel]) -> ProviderReply:
        """One structured request: retries, one repair, and the json_schema -> function calling
        -> JSON mode fallback. ``reply.proposal`` holds the parsed ``schema_cls`` instance; the
        raw text and error are scrubbed of credentials."""
        return scrub_reply(self._structured(system, user, schema_cls), [self.api_key])

    def _structured(self, system: str, user: str, schema_cls: type[BaseModel]) -> ProviderReply:
        import openai

        t0 = time.perf_counter()
        usage = Usage()
        attempts = 0
        raws: list[str] = []
        messages = self._messages(system, user, self.method, schema_cls)
        try:
            for repair in (False, True):
                while True:
                    try:
                        message, n = self._invoke(messages, self.method, schema_cls)
                        break
                    except openai.BadRequestError as exc:
                        if repair or not self.auto or not _unsupported(exc) or self.method == METHODS[-1]:
                            raise
                        attempts += 1
                        self.method = METHODS[METHODS.index(self.method) + 1]  # for the rest of the run
                        messages = self._messages(system, user, self.method, schema_cls)
                attempts += n
                _add_usage(usage, message)
                raw = _raw_text(message)
                raws.append(raw)
                parsed, problem = _parse(message, raw, schema_cls)
                if parsed is not None:
                    return ProviderReply(parsed, raw, usage, _ms(t0), attempts)  # type: ignore[arg-type]
                if repair:
                    return ProviderReply(None, "\n---\n".join(raws), usage, _ms(t0), attempts, f"invalid output after one repair: {problem}")
                messages = messages + [("assistant", raw), ("user", f"That reply is not valid: {problem}. "
                                        "Reply again with only the JSON object that matches the schema.")]  # fmt: skip
        except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
            raise AuthenticationFailed(f"{safe_url(self.base_url)}: authentication failed ({exc.status_code}); "
                                       "check the API key (OPENAI_API_KEY) for this endpoint") from None  # fmt: skip
        except openai.APIStatusError as exc:
            return ProviderReply(None, "\n---\n".join(raws + [_body(exc)]), usage, _ms(t0), attempts or self.max_attempts,
                                 f"HTTP {exc.status_code}: {_short(exc)}")  # fmt: skip
        except (openai.APITimeoutError, openai.APIConnectionError) as exc:
            kind = "timeout" if isinstance(exc, openai.APITimeoutError) else "connection error"
            return ProviderReply(None, "\n---\n".join(raws), usage, _ms(t0), attempts or self.max_attempts, f"{kind}: {_short(exc)}")
        raise AssertionError("unreachable")  # pragma: no cover


def _strict(schema: dict[str, Any]) -> dict[str, Any]:
    """OpenAI strict mode: every object closed and every property required."""
    schema = json.loads(json.dumps(schema))

    def close(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "object" and "properties" in node:
                node["additionalProperties"] = False
                node["required"] = list(node["properties"])
            for v in node.values():
                close(v)
        elif isinstance(node, list):
            for v in node:
                close(v)

    close(schema)
    return schema


def _raw_text(message: Any) -> str:
    calls = getattr(message, "tool_calls", None) or []
    if calls:
        return json.dumps(calls[0]["args"], ensure_ascii=False)
    bad = getattr(message, "invalid_tool_calls", None) or []
    if bad:
        return str(bad[0].get("args") or "")
    content = message.content
    return content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)


def _parse(message: Any, raw: str, schema_cls: type[BaseModel] = CodeProposal) -> tuple[BaseModel | None, str]:
    if getattr(message, "invalid_tool_calls", None):
        return None, "the function arguments are not valid JSON"
    try:
        return schema_cls.model_validate_json(raw), ""
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "the reply"
        return None, f"{where}: {err['msg']}"


def _add_usage(usage: Usage, message: Any) -> None:
    meta = getattr(message, "usage_metadata", None) or {}
    usage.prompt_tokens += int(meta.get("input_tokens") or 0)
    usage.completion_tokens += int(meta.get("output_tokens") or 0)


def _retry_after(response: Any) -> float | None:
    if response is None:
        return None
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def _unsupported(exc: Exception) -> bool:
    text = str(exc).lower()
    return any(word in text for word in ("response_format", "json_schema", "tool", "function", "not supported"))


def _body(exc: Any) -> str:
    try:
        return exc.response.text
    except Exception:  # noqa: BLE001
        return ""


def _short(exc: Exception) -> str:
    return " ".join(str(exc).split())[:300]


def _ms(t0: float) -> int:
    return round((time.perf_counter() - t0) * 1000)
