# One recipe for every function: build the bundles first (`make package`), then
#   docker build --build-arg FUNCTION=commands -t petrel-commands .
# The image holds only that function's bundle (dist/<name>/: main.py, the shared modules it
# imports, and its own requirements.txt) and serves it with functions-framework on $PORT.
FROM python:3.11-slim

ARG FUNCTION
RUN test -n "$FUNCTION" || (echo "build with --build-arg FUNCTION=<name>" && exit 1)

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PORT=8080 PYTHONPATH=/app FUNCTION=${FUNCTION}
WORKDIR /app
COPY dist/${FUNCTION}/requirements.txt /app/requirements.txt
RUN pip install --no-cache-dir -r /app/requirements.txt
COPY dist/${FUNCTION}/ /app/
RUN useradd --system --uid 10001 petrel
USER petrel

# The webhook is an HTTP function (target `webhook`); the others are CloudEvent functions (`handle`).
CMD if [ "$FUNCTION" = "webhook" ]; then \
      exec functions-framework --target webhook --source main.py --port "$PORT"; \
    else \
      exec functions-framework --target handle --source main.py --signature-type cloudevent --port "$PORT"; \
    fi
