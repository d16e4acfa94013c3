"""``python -m sandbox --port 8090``: serve the demo national services locally."""

from __future__ import annotations

import argparse
import os

from sandbox.app import create_sandbox_app
from sandbox.common import DEFAULT_TOKEN, state
from sandbox.smtp import Mailbox, start_smtp_sink


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m sandbox",
        description="Demo national services: population, business registry, tax, social insurance, payment, SMS, "
                    "national portal, electronic identity (VNeID OpenID Connect provider), SMTP sink.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--smtp-port", type=int, default=8025, help="SMTP sink port (0 = no SMTP sink)")
    parser.add_argument("--token", default=os.environ.get("SANDBOX_TOKEN", DEFAULT_TOKEN),
                        help="bearer token clients must send (default: $SANDBOX_TOKEN or the sandbox default)")
    args = parser.parse_args(argv)
    config = {"SANDBOX_TOKEN": args.token}
    if os.environ.get("PAYMENT_SECRET"):
        config["PAYMENT_SECRET"] = os.environ["PAYMENT_SECRET"]  # the secret both sides sign callbacks with
    # The identity provider's one client: the platform, with the id and secret it is configured with.
    for ours, platforms in (("VNEID_CLIENT_ID", "OIDC_CLIENT_ID"), ("VNEID_CLIENT_SECRET", "OIDC_CLIENT_SECRET")):
        if os.environ.get(platforms):
            config[ours] = os.environ[platforms]
    app = create_sandbox_app(args.seed, config)
    if args.smtp_port:
        # What was "sent" is read at GET /_mail: the sink keeps every message in the app's mailbox.
        with app.app_context():
            start_smtp_sink(args.host, args.smtp_port, state("mail", Mailbox))
    app.run(host=args.host, port=args.port, threaded=True)


if __name__ == "__main__":
    main()
