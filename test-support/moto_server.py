"""moto server for the tests, handling one request at a time.

`python3 -m moto.server` serves requests on threads, and moto checks a
DynamoDB ConditionExpression and applies the update in separate steps with no
lock: two concurrent conditional writes to one item can then both succeed,
which DynamoDB never allows (a conditional write is atomic per item). The
backend's concurrency guarantee rests on exactly that atomicity, so the tests
run moto with requests serialized. Clients stay concurrent; Step Functions
executions still run on moto's own worker threads.

Usage: python3 test-support/moto_server.py HOST PORT   (MOTO_PORT: where Step
Functions sends Lambda Invoke calls)
"""
import sys

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(
        host,
        port,
        app,
        threaded=False,
        use_reloader=False,
        request_handler=MotoRequestHandler,
    )


if __name__ == "__main__":
    main()
