"""``python -m connectors.sandbox --port 8090``: serve the sandbox national services locally."""

from __future__ import annotations

import argparse
import os

from connectors.sandbox.app import DEFAULT_TOKEN, create_sandbox_app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m connectors.sandbox",
                                     description="Sandbox national services (population, business registry).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--token", default=os.environ.get("SANDBOX_TOKEN", DEFAULT_TOKEN),
                        help="bearer token clients must send (default: $SANDBOX_TOKEN or the sandbox default)")
    args = parser.parse_args(argv)
    app = create_sandbox_app(args.seed, {"SANDBOX_TOKEN": args.token})
    app.run(host=args.host, port=args.port, threaded=True)


if __name__ == "__main__":
    main()
