"""Embeddings: texts as unit-length vectors, for finding similar issues, pull requests and code.

Two kinds, one interface (`Embedder`):

- `HashingEmbedder`: offline, no network, no model download. Feature hashing of words,
  identifier parts, word bigrams and character 3-grams: a *lexical* memory (shared words
  and names, not meaning), but always available and free.
- `OpenAIEmbedder`: any OpenAI-compatible `/v1/embeddings` server (OpenAI, Ollama, vLLM...).

Every vector is stored with its embedder's `name`; vectors of two names are never compared
(they live in different spaces, often of different sizes). All vectors are L2-normalised,
so cosine similarity is the dot product. A failure is an exception, never a zero vector:
a silent zero vector makes every similarity search return nothing, unnoticed.
`embedder_for(settings)` picks the embedder for a deployment.
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
from collections import Counter
from typing import Any, Protocol

from shared.model.concurrency import server_slot
from shared.model.llm import ModelError, _retry_after, request_timeout
from shared.runtime import scope as context
from shared.runtime.scope import RetryLater
from shared.runtime.settings import Settings

OFFLINE = "offline"  # PETREL_EMBEDDING_MODEL value that selects the HashingEmbedder
CHARS_PER_TOKEN = 4  # the estimate used to cut inputs to the model's limit
MAX_INPUT_TOKENS = 8_000  # OpenAI's embedding models take 8,191 tokens an input
MAX_INPUT_CHARS = MAX_INPUT_TOKENS * CHARS_PER_TOKEN
MAX_BATCH_CHARS = 200_000  # characters a request, whatever the batch size
DIMENSION_PROBE = "dimension probe"


class Embedder(Protocol):
    """Turns texts into unit-length vectors of `dimension` floats, one per text, in order."""

    name: str  # stored with every vector: vectors of two names are never compared
    dimension: int

    def embed(self, texts: list[str]) -> list[list[float]]:
        """One unit-length vector per text, in order."""


# ---------------------------------------------------------------------------- offline hashing

STOP_WORDS = frozenset(
    """
a about above after again against all also am an and any are as at be because been before being
below between both but by can could did do does doing down during each else few for from further
had has have having he her here hers herself him himself his how i if in into is it its itself
just let me more most my myself no nor not now of off on once only or other our ours ourselves
out over own same she should so some such than that the their theirs them themselves then there
these they this those through to too under until up upon us very was we were what when where
which while who whom why will with would you your yours yourself yourselves
""".split()
)

_WORD = re.compile(r"\w+")
_CAMEL_PART = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")

# How much each kind of feature counts (before the sublinear tf weight): whole words and
# identifier parts most, word pairs (order and phrases) less, character 3-grams (spelling
# variants, plurals, typos) least, since a word has many of them.
WORD_WEIGHT = 1.0
BIGRAM_WEIGHT = 0.7
TRIGRAM_WEIGHT = 0.3


@functools.lru_cache(maxsize=1 << 17)
def _feature_hash(feature: str) -> int:
    """A stable 64-bit hash (blake2b, not Python's per-process salted `hash()`)."""
    return int.from_bytes(hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest(), "little")


@functools.lru_cache(maxsize=1 << 15)
def _word(identifier: str) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """One `\\w+` run: its tokens, its parts (the words it stands for in a sentence), its 3-grams.

    Parts: the identifier lower-cased, or when it is snake_case or camelCase (or mixes
    letters and digits) its pieces. Tokens: the parts, and the whole identifier too when it
    was split. Stop words and single letters are left out. The 3-grams are those of each
    token with `<` and `>` marking its boundaries.
    """
    whole = identifier.strip("_").lower()
    pieces: list[str] = []
    for piece in identifier.split("_"):
        pieces.extend(_CAMEL_PART.findall(piece) if piece.isascii() else [piece] if piece else [])
    parts = [p.lower() for p in pieces] if len(pieces) > 1 else [whole]
    tokens = ([whole] if len(parts) > 1 else []) + parts
    keep = [t for t in dict.fromkeys(tokens) if t and t not in STOP_WORDS and (len(t) > 1 or t.isdigit())]
    grams = [f"c:{marked[i : i + 3]}" for marked in (f"<{t}>" for t in keep) for i in range(len(marked) - 2)]
    return tuple(keep), tuple(p for p in parts if p in keep), tuple(grams)


def _features(text: str) -> Counter:
    """The features of a text with their weights, before hashing."""
    words: Counter = Counter()
    grams: Counter = Counter()
    sequence: list[str] = []  # content words in order (identifiers as their parts), for bigrams
    for identifier in _WORD.findall(text):
        tokens, parts, token_grams = _word(identifier)
        words.update(tokens)
        grams.update(token_grams)
        sequence.extend(parts)
    bigrams = Counter(f"{a} {b}" for a, b in zip(sequence, sequence[1:]))
    weights: Counter = Counter()
    for counts, prefix, weight in (
        (words, "w:", WORD_WEIGHT),
        (bigrams, "b:", BIGRAM_WEIGHT),
        (grams, "", TRIGRAM_WEIGHT),
    ):
        for feature, count in counts.items():
            weights[prefix + feature] += weight * (1.0 + math.log(count))
    return weights


class HashingEmbedder:
    """Offline lexical embeddings by feature hashing (the "hashing trick"); pure Python.

    Features of a text, lower-cased: its words (split on non-alphanumerics; snake_case and
    camelCase identifiers also split into their parts, the whole identifier kept too), its
    word bigrams (over identifier parts), and the character 3-grams of each word with
    boundary marks (`<pa`, `par`, ..., `se>`). English stop words and single letters are
    dropped. Each feature adds its weight, `kind weight x (1 + log count)` (sublinear tf),
    at `hash % dimension` with the sign of another bit of the hash (signed hashing, so that
    collisions cancel on average instead of piling up). The hash is blake2b, so a vector is
    the same in every process and on every machine. The result is L2-normalised.

    An empty text, or one without any token (only punctuation or stop words), would be the
    zero vector, which has no direction (cosine would divide by zero and give NaN). It gets
    `empty_vector()` instead: every component `1/sqrt(dimension)`, unit length, the same for
    all such texts and nearly orthogonal to real texts (whose signed components average
    out). The same applies in the (unlikely) case that all of a text's features cancel.

    Speed, measured on the development machine (Python 3.11): a 2,000-character text takes
    about 1 ms (median 1.2 ms for English prose, 0.8 ms for code, caches cold), 2-3 ms
    when every word is new; the hashes of words and features are cached, so repeated
    vocabulary is cheaper.
    """

    def __init__(self, dimension: int = 384):
        if isinstance(dimension, bool) or not isinstance(dimension, int) or dimension < 2:
            raise ValueError(f"the dimension of a HashingEmbedder must be an integer of at least 2, not {dimension!r}")
        self.dimension = dimension
        self.name = f"petrel-hashing-v1-{dimension}"

    def empty_vector(self) -> list[float]:
        """The vector of a text without features (see the class docstring)."""
        return [1.0 / math.sqrt(self.dimension)] * self.dimension

    def embed(self, texts: list[str]) -> list[list[float]]:
        """One unit-length vector per text, in order; a single string is refused (it is not a list of texts)."""
        if isinstance(texts, str):
            raise TypeError("embed takes a list of texts, not a single string")
        return [self.embed_one(text) for text in texts]

    def embed_one(self, text: str) -> list[float]:
        """The unit-length vector of one text: its hashed features, signed and normalised."""
        vector = [0.0] * self.dimension
        for feature, weight in _features(text or "").items():
            h = _feature_hash(feature)
            vector[h % self.dimension] += weight if h >> 63 else -weight
        norm = math.sqrt(sum(v * v for v in vector))
        if norm < 1e-9:
            return self.empty_vector()
        return [v / norm for v in vector]


# ---------------------------------------------------------------------------- OpenAI-compatible API


class OpenAIEmbedder:
    """Embeddings from an OpenAI-compatible `/v1/embeddings` endpoint.

    - Requests hold at most `batch_size` inputs and about 200,000 characters.
    - Each input is cut to 32,000 characters: about 8,000 tokens at an estimated 4
      characters a token (the models take 8,191). Dense text (code, non-Latin scripts) can
      have fewer characters a token; if the server then refuses the input as too long,
      that is a `ModelError` naming the refusal. Only the start of a longer text counts.
    - An empty string is sent as a single space (the API refuses empty input).
    - Vectors come back in the order of `texts` (the answers are sorted by `index`) and
      L2-normalised. The dimension is learned from the first answer (`dimension` asks
      once with a probe text if nothing was embedded yet).
    - Failures raise, never return zero vectors: a rate limit that outlasts the client's
      retries is `RetryLater` (after `retry-after`, or 60 s); an unreachable server, a
      timeout, a 5xx, a refusal, or an answer with the wrong number of vectors, a
      non-numeric or zero vector, or a changed dimension is `ModelError`.
    """

    def __init__(self, settings: Settings, model: str, *, batch_size: int = 64, client=None):
        if not model:
            raise ValueError("an OpenAIEmbedder needs a model name (PETREL_EMBEDDING_MODEL)")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, not {batch_size!r}")
        self.settings = settings
        self.model = model
        self.name = f"openai:{model}"
        self.batch_size = batch_size
        self._client = client
        self._dimension: int | None = None

    @property
    def client(self):
        """The OpenAI client, made on first use."""
        if self._client is None:
            from shared.model.llm import openai_client

            self._client = openai_client(self.settings)
        return self._client

    @property
    def dimension(self) -> int:
        """The vectors' length: learned from the first answer (one probe request if needed)."""
        if self._dimension is None:
            self.embed([DIMENSION_PROBE])
        assert self._dimension is not None
        return self._dimension

    def embed(self, texts: list[str]) -> list[list[float]]:
        """One vector per text, in order, asked for in batches; empty texts are sent as a space, long ones cut."""
        if isinstance(texts, str):
            raise TypeError("embed takes a list of texts, not a single string")
        inputs = [(text or " ")[:MAX_INPUT_CHARS] for text in texts]
        vectors: list[list[float]] = []
        for batch in self._batches(inputs):
            vectors.extend(self._request(batch))
        return vectors

    def _batches(self, inputs: list[str]):
        batch: list[str] = []
        size = 0
        for text in inputs:
            if batch and (len(batch) >= self.batch_size or size + len(text) > MAX_BATCH_CHARS):
                yield batch
                batch, size = [], 0
            batch.append(text)
            size += len(text)
        if batch:
            yield batch

    def _request(self, batch: list[str]) -> list[list[float]]:
        import openai

        what = f"a call to the embedding model ({self.model})"
        context.check(what)
        try:
            with server_slot(self.settings.openai_base_url, self.settings.model_concurrency, what):
                response = self.client.embeddings.create(
                    model=self.model, input=batch, encoding_format="float", timeout=request_timeout(self.settings)
                )
        except openai.RateLimitError as error:
            raise RetryLater(_retry_after(error), f"embedding rate limit ({self.model})") from None
        except (openai.APITimeoutError, openai.APIConnectionError, openai.InternalServerError) as error:
            raise ModelError(f"the embedding model ({self.model}) is unavailable: {type(error).__name__}") from None
        except openai.APIStatusError as error:
            raise ModelError(
                f"the embedding server answered {error.status_code} for {self.model}: {error.message}"
            ) from None
        except (openai.APIResponseValidationError, ValueError) as error:
            raise ModelError(f"the embedding server's answer was not understood: {type(error).__name__}") from None
        return self._vectors(response, len(batch))

    def _vectors(self, response: Any, expected: int) -> list[list[float]]:
        """The answer's vectors in input order, checked and normalised; ModelError otherwise."""
        try:
            items = [(item.index, item.embedding) for item in response.data]
        except (AttributeError, TypeError):
            raise ModelError(f"the embedding server's answer for {self.model} has no list of embeddings") from None
        indices = sorted(index for index, _ in items if isinstance(index, int) and not isinstance(index, bool))
        if len(items) != expected or indices != list(range(expected)):
            raise ModelError(
                f"the embedding model ({self.model}) returned {len(items)} vectors for {expected} "
                f"inputs (indices {indices[:10]}{'...' if len(indices) > 10 else ''})"
            )
        vectors = []
        for index, embedding in sorted(items, key=lambda item: item[0]):
            vector = _unit(embedding)
            if vector is None:
                raise ModelError(
                    f"the embedding model ({self.model}) returned an invalid vector at index "
                    f"{index}: not a non-empty, non-zero list of finite numbers"
                )
            if self._dimension is None:
                self._dimension = len(vector)
            elif len(vector) != self._dimension:
                raise ModelError(
                    f"the embedding model ({self.model}) returned a vector of {len(vector)} "
                    f"numbers at index {index}; earlier ones had {self._dimension}"
                )
            vectors.append(vector)
        return vectors


def _unit(embedding: Any) -> list[float] | None:
    """`embedding` as a unit-length list of floats, or None if it is no usable vector."""
    if not isinstance(embedding, list) or not embedding:
        return None
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in embedding):
        return None
    values = [float(v) for v in embedding]
    if not all(math.isfinite(v) for v in values):
        return None
    norm = math.sqrt(sum(v * v for v in values))
    if norm == 0.0 or not math.isfinite(norm):
        return None
    return [v / norm for v in values]


# ---------------------------------------------------------------------------- choice


def embedder_for(settings: Settings) -> Embedder:
    """The deployment's embedder: PETREL_EMBEDDING_MODEL=offline, or no model server
    configured, gives the HashingEmbedder; otherwise the server's embedding model."""
    if settings.embedding_model.strip().lower() == OFFLINE:
        return HashingEmbedder()
    if settings.has_model:
        return OpenAIEmbedder(settings, settings.embedding_model)
    return HashingEmbedder()
