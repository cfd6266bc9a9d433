"""shared/model/embeddings: the offline hashing embedder, and the OpenAI-compatible one against the fake server."""

from __future__ import annotations

import json
import math
import os
import random
import subprocess
import sys

import pytest
from fakes.openai import FakeOpenAI, embedding_vector

from shared.model.embeddings import MAX_BATCH_CHARS, MAX_INPUT_CHARS, HashingEmbedder, OpenAIEmbedder, embedder_for
from shared.model.llm import ModelError
from shared.runtime import settings
from shared.runtime.scope import RetryLater

EMBEDDINGS = "/v1/embeddings"


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b)) / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


def norm(vector: list[float]) -> float:
    return math.sqrt(sum(v * v for v in vector))


# ---------------------------------------------------------------------------- HashingEmbedder

TEXTS = [
    "Login fails with a 500 error when the password contains unicode characters",
    "def parse_config_file(path): return yaml.safe_load(open(path))",
    "x" * 5000,
    "Ünïcödé wörds and emoji 🎉 too",
]


def test_hashing_is_the_same_in_every_process_whatever_the_hash_seed():
    here = HashingEmbedder(64).embed(TEXTS)
    program = (
        "import json, sys; from shared.model.embeddings import HashingEmbedder; "
        "print(json.dumps(HashingEmbedder(64).embed(json.loads(sys.stdin.read()))))"
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for seed in ("1", "2"):  # Python's salted hash() would differ between these
        result = subprocess.run(
            [sys.executable, "-c", program],
            input=json.dumps(TEXTS),
            capture_output=True,
            text=True,
            cwd=root,
            env={**os.environ, "PYTHONPATH": root, "PYTHONHASHSEED": seed},
            check=True,
        )
        assert json.loads(result.stdout) == here


def test_hashing_vectors_are_unit_length_and_named_by_dimension():
    embedder = HashingEmbedder(128)
    assert embedder.name == "petrel-hashing-v1-128" and embedder.dimension == 128
    assert HashingEmbedder().name == "petrel-hashing-v1-384" and HashingEmbedder().dimension == 384
    vectors = embedder.embed(TEXTS)
    assert len(vectors) == len(TEXTS)
    for vector in vectors:
        assert len(vector) == 128
        assert norm(vector) == pytest.approx(1.0, abs=1e-9)


def test_similar_texts_are_closer_than_unrelated_ones():
    a, b, c = HashingEmbedder().embed(
        [
            "Login fails with 500 error when password contains unicode characters",
            "500 error on login if the password has unicode characters",
            "Add a dark mode toggle to the settings page",
        ]
    )
    assert cosine(a, b) > 0.5
    assert cosine(a, b) > cosine(a, c) + 0.4
    assert cosine(b, c) < 0.2


def test_signed_hashing_lets_collisions_cancel():
    rng = random.Random(7)
    letters = "abcdefghijklmnopqrstuvwxyz"
    first, second = (
        " ".join("".join(rng.choice(letters) for _ in range(rng.randint(4, 9))) for _ in range(300)) for _ in range(2)
    )
    a, b = HashingEmbedder(64).embed([first, second])  # hundreds of features share 64 slots
    assert abs(cosine(a, b)) < 0.3  # unsigned hashing would make every pair of long texts look alike
    assert min(a) < 0 < max(a)


def test_identifiers_are_split_into_their_words():
    camel, words, snake, other = HashingEmbedder().embed(
        ["parseConfigFile", "parse config file", "parse_config_file", "render html template"]
    )
    assert cosine(camel, words) > 0.7
    assert cosine(snake, words) > 0.7
    assert cosine(camel, snake) > 0.5
    assert cosine(camel, other) < 0.2 and cosine(words, other) < 0.2


def test_word_order_and_stop_words():
    embedder = HashingEmbedder()
    assert embedder.embed(["the cache of the server"]) == embedder.embed(["cache server"])  # stop words dropped
    forward, backward = embedder.embed(["cache server restart", "restart server cache"])
    assert 0.5 < cosine(forward, backward) < 0.999  # same words, different bigrams


def test_texts_without_tokens_get_a_fixed_unit_vector_never_nan():
    embedder = HashingEmbedder(64)
    empty = embedder.empty_vector()
    assert norm(empty) == pytest.approx(1.0)
    vectors = embedder.embed(["", "   \n\t", "!!! --- ???", "the and of it", "a"])
    for vector in vectors:
        assert vector == empty
        assert all(math.isfinite(v) for v in vector)
    assert abs(cosine(empty, embedder.embed(["parse config file"])[0])) < 0.5
    assert embedder.embed([]) == []


def test_a_single_string_is_refused_not_embedded_letter_by_letter(fake):
    for embedder_ in (HashingEmbedder(), embedder(fake)):
        with pytest.raises(TypeError, match="list of texts"):
            embedder_.embed("one text")
    assert fake.embedding_requests() == []


def test_hashing_refuses_a_useless_dimension():
    for bad in (0, 1, -3, 2.5, True):
        with pytest.raises(ValueError, match="dimension"):
            HashingEmbedder(bad)


# ---------------------------------------------------------------------------- OpenAIEmbedder


@pytest.fixture
def fake():
    with FakeOpenAI(api_key="sk-test") as server:
        yield server


def embedder(fake: FakeOpenAI, model: str = "text-embedding-3-small", **kwargs) -> OpenAIEmbedder:
    values = {
        "OPENAI_BASE_URL": fake.url + "/v1",
        "OPENAI_API_KEY": "sk-test",
        "PETREL_MODEL_MAX_RETRIES": "0",
        "PETREL_MODEL_TIMEOUT_SECONDS": "10",
    }
    return OpenAIEmbedder(settings.from_env(values), model, **kwargs)


def answer(*embeddings: tuple[int, object]) -> str:
    """A 200 answer of the embeddings API with the given (index, embedding) items."""
    return json.dumps(
        {
            "object": "list",
            "model": "m",
            "usage": {"prompt_tokens": 1, "total_tokens": 1},
            "data": [{"object": "embedding", "index": i, "embedding": e} for i, e in embeddings],
        }
    )


def test_openai_batches_inputs_and_keeps_their_order(fake):
    texts = [f"text number {n}" for n in range(150)]
    vectors = embedder(fake, batch_size=64).embed(texts)
    requests = fake.embedding_requests()
    assert [len(r["input"]) for r in requests] == [64, 64, 22]
    assert [t for r in requests for t in r["input"]] == texts
    assert all(r["encoding_format"] == "float" and r["model"] == "text-embedding-3-small" for r in requests)
    assert len(vectors) == 150
    for text, vector in zip(texts, vectors):
        assert vector == pytest.approx(embedding_vector(text, 64))


def test_openai_batches_by_characters_and_truncates_long_inputs(fake):
    texts = ["a" * 30_000] * 8 + ["b" * (MAX_INPUT_CHARS + 5000)]
    embedder(fake, batch_size=64).embed(texts)
    requests = fake.embedding_requests()
    assert all(sum(len(t) for t in r["input"]) <= MAX_BATCH_CHARS for r in requests)
    assert [len(r["input"]) for r in requests] == [6, 3]
    assert requests[-1]["input"][-1] == "b" * MAX_INPUT_CHARS


def test_openai_answers_are_sorted_by_index_and_normalised(fake):
    fake.malformed(path=EMBEDDINGS, body=answer((1, [0, 3.0]), (0, [4.0, 0]), (2, [3, 4])))
    vectors = embedder(fake).embed(["first", "second", "third"])
    assert vectors == [pytest.approx([1.0, 0.0]), pytest.approx([0.0, 1.0]), pytest.approx([0.6, 0.8])]


def test_openai_learns_the_dimension(fake):
    probed = embedder(fake)
    assert probed.name == "openai:text-embedding-3-small"
    assert probed.dimension == 64
    assert probed.dimension == 64
    assert [r["input"] for r in fake.embedding_requests()] == [["dimension probe"]]  # asked once

    used = embedder(fake)
    used.embed(["hello"])
    assert used.dimension == 64
    assert len(fake.embedding_requests()) == 2  # no probe after a real answer


def test_openai_empty_string_is_sent_as_a_space(fake):
    vectors = embedder(fake).embed(["", "word"])
    assert fake.embedding_requests()[0]["input"] == [" ", "word"]
    assert vectors[0] == pytest.approx(embedding_vector(" ", 64))
    assert embedder(fake).embed([]) == [] and len(fake.embedding_requests()) == 1


@pytest.mark.parametrize(
    "body, message",
    [
        (answer((0, [1.0, 0.0])), "returned 1 vectors for 2 inputs"),
        (answer((0, [1.0, 0.0]), (0, [0.0, 1.0])), "returned 2 vectors for 2 inputs"),
        (answer((0, [1.0, 0.0]), (1, ["a", "b"])), "invalid vector at index 1"),
        (answer((0, [1.0, 0.0]), (1, [0.0, 0.0])), "invalid vector at index 1"),
        (answer((0, [1.0, 0.0]), (1, [])), "invalid vector at index 1"),
        (answer((0, [1.0, 0.0]), (1, [1.0, 0.0, 0.0])), "3 numbers at index 1; earlier ones had 2"),
        (json.dumps({"object": "list", "data": None}), "no list of embeddings"),
        (None, "not understood"),  # truncated JSON
    ],
)
def test_openai_refuses_a_bad_answer(fake, body, message):
    fake.malformed(path=EMBEDDINGS, body=body)
    with pytest.raises(ModelError, match=message):
        embedder(fake).embed(["one", "two"])


def test_openai_rate_limit_is_retry_later(fake):
    fake.fail(429, path=EMBEDDINGS, headers={"retry-after": "7"})
    with pytest.raises(RetryLater) as caught:
        embedder(fake).embed(["one"])
    assert caught.value.seconds == 7
    fake.fail(429, path=EMBEDDINGS)
    with pytest.raises(RetryLater) as caught:
        embedder(fake).embed(["one"])
    assert caught.value.seconds == 60


@pytest.mark.parametrize(
    "status, message",
    [
        (500, "unavailable: InternalServerError"),
        (503, "unavailable: InternalServerError"),
        (400, "answered 400"),
        (401, "answered 401"),
    ],
)
def test_openai_server_errors_are_model_errors(fake, status, message):
    fake.fail(status, path=EMBEDDINGS)
    with pytest.raises(ModelError, match=message):
        embedder(fake).embed(["one"])


def test_openai_unreachable_server_is_a_model_error(fake):
    unreachable = embedder(fake)
    fake.stop()
    with pytest.raises(ModelError, match="unavailable: APIConnectionError"):
        unreachable.embed(["one"])


def test_openai_refuses_a_bad_batch_size(fake):
    with pytest.raises(ValueError, match="batch_size"):
        embedder(fake, batch_size=0)


# ---------------------------------------------------------------------------- embedder_for


def test_embedder_for_picks_each_kind():
    offline = embedder_for(settings.from_env({"OPENAI_API_KEY": "sk-x", "PETREL_EMBEDDING_MODEL": "offline"}))
    assert isinstance(offline, HashingEmbedder) and offline.name == "petrel-hashing-v1-384"

    nothing = embedder_for(settings.from_env({}))
    assert isinstance(nothing, HashingEmbedder)

    default = embedder_for(settings.from_env({"OPENAI_API_KEY": "sk-x"}))
    assert isinstance(default, OpenAIEmbedder) and default.name == "openai:text-embedding-3-small"

    local = embedder_for(
        settings.from_env(
            {"OPENAI_BASE_URL": "http://localhost:11434/v1", "PETREL_EMBEDDING_MODEL": "nomic-embed-text"}
        )
    )
    assert isinstance(local, OpenAIEmbedder) and local.name == "openai:nomic-embed-text"
