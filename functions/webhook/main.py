"""The GitHub webhook: verify, store, hand off, answer fast.

HTTP function for functions-framework:
    functions-framework --target webhook --source functions/webhook/main.py

It imports neither PyGithub nor openai: it only checks the signature, stores the
delivery with one job per subscribed function (or posts a CloudEvent to K_SINK, or
publishes one message to PETREL_PUBSUB_TOPIC), and
answers. The functions do the work later.
"""

import sys

import functions_framework

from shared.pipeline.inbox import Inbox
from shared.runtime import db, log, settings

log.setup()
try:
    SETTINGS = settings.current()
    SETTINGS.require_webhook_secret()
    if not SETTINGS.database_url and not db.embedded_available():
        raise settings.SettingsError(db.NO_DATABASE)
except settings.SettingsError as error:
    sys.exit(f"petrel webhook: {error}")

INBOX = Inbox(SETTINGS, db.pool)  # the process's pool, opened once the migrations are applied


@functions_framework.http
def webhook(request):
    """Receive one GitHub delivery."""
    answer = INBOX.receive(request.method, request.headers, request.stream.read, request.content_length)
    return answer.json(), answer.status, {"Content-Type": "application/json"}
