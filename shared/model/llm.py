"""The model: any OpenAI-compatible server, through the `openai` client.

- A model per task: `review` (PETREL_MODEL) and `light` (PETREL_LIGHT_MODEL, cheap steps).
  Context size and price per model are settings, not a table in the code.
- Structured output: JSON that follows a schema. `response_format: json_schema` where the
  server supports it, JSON mode or plain text otherwise (learned per server and model on
  the first refusal). The answer is validated here; an invalid answer is sent back once for
  repair; a second failure raises `ModelError`. Callers still check every path and line.
- Token budgets offline: an estimate from the text's length, corrected by the `usage` the
  server returns. Every call's usage is recorded, and a repository's daily budget stops
  further calls with `BudgetExceeded`.
- Retries: the client retries 429 and 5xx honouring `retry-after`; a rate limit that
  outlasts them becomes `RetryLater`, so the job is rescheduled rather than lost.
- The job's deadline and lease (shared/runtime/scope.py): no call starts once the job must stop,
  and each call's timeout is cut so that it and its retries end by the deadline.
- A low temperature on every call (PETREL_MODEL_TEMPERATURE, default 0), so that a review of one
  diff can be reproduced; at most PETREL_MODEL_CONCURRENCY requests at once per model server
  (shared/model/concurrency.py).
"""

from __future__ import annotations

import json
import logging
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shared.model.answers import SchemaError, check, extract_json
from shared.model.concurrency import server_slot
from shared.runtime import scope as context
from shared.runtime.scope import RetryLater
from shared.runtime.settings import Settings

log = logging.getLogger("petrel.llm")

NO_MODEL = "no model configured: set OPENAI_API_KEY or OPENAI_BASE_URL"
CHARS_PER_TOKEN = 4.0  # before any `usage` has corrected it


class ModelError(Exception):
    """The model gave no usable answer: unavailable, or invalid output even after a repair."""


class BudgetExceeded(Exception):
    """The repository's daily token budget is spent."""

    def __init__(self, repository: str, budget: int, spent: int):
        super().__init__(f"daily token budget of {budget} for {repository} is spent ({spent} used today)")
        self.repository, self.budget, self.spent = repository, budget, spent


@dataclass(frozen=True)
class ModelSpec:
    """A model's name, context window and prices."""

    name: str
    context_tokens: int
    price_in: float  # USD per million prompt tokens
    price_out: float  # USD per million completion tokens

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        """The cost in USD of one call with these token counts."""
        return (prompt_tokens * self.price_in + completion_tokens * self.price_out) / 1_000_000


class TokenEstimator:
    """Characters per token, learned per model from the `usage` servers report."""

    def __init__(self):
        self._ratio: dict[str, float] = {}
        self._lock = threading.Lock()

    def estimate(self, text: str, model: str = "") -> int:
        """An estimate of the tokens `text` takes for `model`, from the characters per token seen so far."""
        return math.ceil(len(text) / self._ratio.get(model, CHARS_PER_TOKEN)) if text else 0

    def learn(self, model: str, characters: int, prompt_tokens: int) -> None:
        """Move `model`'s characters per token towards what a call's usage showed (small samples are ignored)."""
        if characters < 200 or prompt_tokens <= 0:
            return  # too small a sample to move the estimate
        observed = characters / prompt_tokens
        with self._lock:
            previous = self._ratio.get(model, CHARS_PER_TOKEN)
            self._ratio[model] = max(1.0, min(8.0, 0.7 * previous + 0.3 * observed))


ESTIMATOR = TokenEstimator()
_MODES: dict[tuple[str, str], str] = {}  # (base URL, model) -> "json_schema" | "json_object" | "text"
_MODES_LOCK = threading.Lock()


class UsageLedger:
    """Where usage goes: recorded per call, summed per repository and UTC day."""

    def record(
        self, repository: str | None, function: str, model: str, prompt_tokens: int, completion_tokens: int, cost: float
    ) -> None:
        """Record one call's usage; this default keeps nothing."""

    def spent_today(self, repository: str) -> int:
        """Tokens `repository` used today (UTC); this default always says 0."""
        return 0


def openai_client(settings: Settings):
    """The `openai` client for the configured server; each request names the current delivery."""
    import openai

    return openai.OpenAI(
        api_key=settings.openai_api_key or "unused",
        base_url=settings.openai_base_url,
        timeout=settings.model_timeout_seconds,
        max_retries=settings.model_max_retries,
        default_headers={"X-Petrel-Delivery": context.delivery_id.get()},
    )


def model_specs(settings: Settings) -> dict[str, ModelSpec]:
    """The ModelSpec of each task (`review` and `light`) from the settings."""
    return {
        "review": ModelSpec(settings.model, settings.model_context_tokens, *settings.model_price),
        "light": ModelSpec(settings.light_model, settings.light_model_context_tokens, *settings.light_model_price),
    }


class Model:
    """Model calls for one job: one repository, one function, one budget."""

    def __init__(
        self,
        settings: Settings,
        *,
        function: str,
        repository: str | None = None,
        ledger: UsageLedger | None = None,
        daily_budget: int | None = None,
        names: dict[str, str | None] | None = None,
        client=None,
    ):
        if not settings.has_model:
            raise ModelError(NO_MODEL)
        self.settings = settings
        self.function = function
        self.repository = repository
        self.ledger = ledger or UsageLedger()
        self.daily_budget = daily_budget
        self.specs = model_specs(settings)
        for task, name in (names or {}).items():  # the repository's config may name other models
            if name:
                self.specs[task] = ModelSpec(
                    name, self.specs[task].context_tokens, self.specs[task].price_in, self.specs[task].price_out
                )
        self._client = client
        self.calls = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.cost = 0.0  # USD, at the configured prices (0 when none are set)

    @property
    def client(self):
        """The OpenAI client, made on first use."""
        if self._client is None:
            self._client = openai_client(self.settings)
        return self._client

    def estimate(self, text: str, task: str = "review") -> int:
        """An estimate of the tokens `text` takes for the model of `task`."""
        return ESTIMATOR.estimate(text, self.specs[task].name)

    def room(self, task: str, *texts: str) -> int:
        """The tokens the context of `task`'s model leaves for the rest of a prompt after `texts`
        (estimated) and the answer: the `max_tokens` every call asks for (PETREL_MODEL_MAX_OUTPUT_TOKENS)."""
        used = sum(self.estimate(text, task) for text in texts)
        return self.specs[task].context_tokens - used - self.settings.model_max_output_tokens

    def json(
        self,
        task: str,
        system: str,
        user: str,
        schema: dict,
        name: str,
        validate: Callable[[Any], Any] = lambda value: value,
    ) -> Any:
        """Ask for JSON following `schema`; validate it (and with `validate`), repair once."""
        spec = self.specs[task]
        messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        for attempt in (1, 2):
            text = self._structured(spec, messages, schema, name)
            try:
                return validate(check(extract_json(text), schema))
            except (SchemaError, ValueError) as problem:
                log.warning("model %s gave invalid %s (attempt %d): %s", spec.name, name, attempt, problem)
                messages = messages + [
                    {"role": "assistant", "content": text[:4000]},
                    {
                        "role": "user",
                        "content": f"That answer is invalid: {problem}. Answer again with only "
                        f"the JSON object, following the schema exactly.",
                    },
                ]
        raise ModelError(f"the model ({spec.name}) returned invalid {name} twice")

    def text(self, task: str, system: str, user: str) -> str:
        """The model's plain-text answer to one system and one user message, for `task`."""
        spec = self.specs[task]
        response = self._call(spec, [{"role": "system", "content": system}, {"role": "user", "content": user}])
        return response.choices[0].message.content or ""

    def chat(self, task: str, messages: list[dict], tools: list[dict] | None = None):
        """One chat turn, optionally offering tools (OpenAI function-calling format).

        Returns the assistant message (`.content`, `.tool_calls`); the caller runs the tools.
        """
        response = self._call(self.specs[task], messages, tools=tools)
        return response.choices[0].message

    def _structured(self, spec: ModelSpec, messages: list[dict], schema: dict, name: str) -> str:
        import openai

        key = (str(self.settings.openai_base_url), spec.name)
        mode = _MODES.get(key, "json_schema")
        while True:
            if mode == "json_schema":
                response_format = {"type": "json_schema", "json_schema": {"name": name, "schema": schema}}
            elif mode == "json_object":
                response_format = {"type": "json_object"}
            else:
                response_format = None
            prompt = messages if mode == "json_schema" else _with_schema(messages, schema)
            try:
                response = self._call(spec, prompt, response_format=response_format)
                return response.choices[0].message.content or ""
            except openai.APIStatusError as error:
                # a server refuses a response format with 400, 422 or, like llama-cpp-python's, a 5xx
                # whose message names it: step down; anything else is the server's own error
                if mode == "text" or not refuses_format(error):
                    raise ModelError(f"the model server answered {error.status_code}: {error.message}") from None
                mode = "json_object" if mode == "json_schema" else "text"
                with _MODES_LOCK:
                    _MODES[key] = mode
                log.info("%s does not take that response_format; using %s", spec.name, mode)

    def _call(
        self,
        spec: ModelSpec,
        messages: list[dict],
        response_format: dict | None = None,
        tools: list[dict] | None = None,
    ):
        import openai

        context.check(f"a call to the model ({spec.name})")
        self._check_budget()
        kwargs: dict[str, Any] = {"model": spec.name, "messages": messages}
        kwargs["max_tokens"] = self.settings.model_max_output_tokens
        if self.settings.model_temperature is not None:  # low by default: one diff, one review
            kwargs["temperature"] = self.settings.model_temperature
        if response_format:
            kwargs["response_format"] = response_format
        if tools:
            kwargs["tools"] = tools
        try:
            with server_slot(
                self.settings.openai_base_url, self.settings.model_concurrency, f"a call to the model ({spec.name})"
            ):
                # the timeout counts from here: the wait for a slot is not the server's time
                response = self.client.chat.completions.create(**kwargs, timeout=request_timeout(self.settings))
        except openai.RateLimitError as error:
            raise RetryLater(_retry_after(error), f"model rate limit ({spec.name})") from None
        except openai.APIStatusError as error:
            if response_format and refuses_format(error):
                raise  # _structured steps down to a format the server takes
            if isinstance(error, openai.InternalServerError):
                raise ModelError(
                    f"the model ({spec.name}) is unavailable: {error.status_code} {error.message}"
                ) from None
            if isinstance(error, openai.BadRequestError):
                raise ModelError(f"the model server refused the request: {error.message}") from None
            raise ModelError(f"the model server answered {error.status_code}: {error.message}") from None
        except (openai.APITimeoutError, openai.APIConnectionError) as error:
            raise ModelError(f"the model ({spec.name}) is unavailable: {type(error).__name__}") from None
        except (openai.APIResponseValidationError, ValueError) as error:
            raise ModelError(f"the model server's answer was not understood: {type(error).__name__}") from None
        if not response.choices:
            raise ModelError(f"the model ({spec.name}) returned no answer")
        self._account(spec, messages, response)
        return response

    def _account(self, spec: ModelSpec, messages: list[dict], response) -> None:
        characters = sum(len(m.get("content") or "") if isinstance(m, dict) else 0 for m in messages)
        usage = response.usage
        prompt = (
            usage.prompt_tokens if usage and usage.prompt_tokens else ESTIMATOR.estimate("x" * characters, spec.name)
        )
        completion = (
            usage.completion_tokens
            if usage and usage.completion_tokens is not None
            else ESTIMATOR.estimate(response.choices[0].message.content or "", spec.name)
        )
        if usage and usage.prompt_tokens:
            ESTIMATOR.learn(spec.name, characters, usage.prompt_tokens)
        self.calls += 1
        self.prompt_tokens += prompt
        self.completion_tokens += completion
        self.cost += spec.cost(prompt, completion)
        self.ledger.record(self.repository, self.function, spec.name, prompt, completion, spec.cost(prompt, completion))

    def _check_budget(self) -> None:
        if self.daily_budget and self.repository:
            spent = self.ledger.spent_today(self.repository)
            if spent >= self.daily_budget:
                raise BudgetExceeded(self.repository, self.daily_budget, spent)


def request_timeout(settings: Settings) -> float:
    """One model request's timeout: the setting, cut so that the request and the client's
    retries of it (each with this timeout) end by the job's deadline."""
    return context.capped(settings.model_timeout_seconds * (settings.model_max_retries + 1)) / (
        settings.model_max_retries + 1
    )


def _with_schema(messages: list[dict], schema: dict) -> list[dict]:
    """Servers without schema support get the schema in the prompt instead."""
    note = "Answer with one JSON object and nothing else. It must follow this JSON Schema:\n" + json.dumps(
        schema, separators=(",", ":")
    )
    return [{"role": messages[0]["role"], "content": messages[0]["content"] + "\n\n" + note}, *messages[1:]]


def refuses_format(error) -> bool:
    """True when a server's error refuses the request's response format: a 400 or 422 that names it
    or JSON, or a 5xx whose message does (llama-cpp-python answers 500 "Input should be 'text' or
    'json_object'" to a json_schema format)."""
    status = getattr(error, "status_code", 0)
    message = str(getattr(error, "message", "") or error).lower()
    names_it = "response_format" in message or "json" in message or "'text'" in message
    return names_it and (status in (400, 422) or status >= 500)


def _retry_after(error) -> float:
    try:
        return float(error.response.headers.get("retry-after") or 60)
    except (AttributeError, TypeError, ValueError):
        return 60.0
