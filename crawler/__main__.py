"""``python -m crawler``: one revisit crawl, the crawler's own entry point (the scheduler's job runs it).

Reads the configuration from the environment like every ``takedown`` process, revisits the cases due
(``--now`` for an accelerated clock, ``--case`` for chosen ones), and prints its summary as one JSON
object. Quiet unless ``-v``. It fails with one ``error:`` line and exit 1 when the store fails or
the crawl ends early, exit 2 on a bad argument or setting.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from datetime import datetime

from sqlalchemy.exc import DBAPIError

from hosting.dns import AddressLookup
from takedown import exitcodes
from takedown.clock import ensure_utc
from takedown.errors import ConfigurationError, TakedownError
from takedown.plain import plain
from takedown.settings import Settings
from takedown.store import Store, describe_failure


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m crawler", description=__doc__.splitlines()[0])
    parser.add_argument("--now", help="treat this UTC time (ISO 8601) as now")
    parser.add_argument(
        "--case", dest="cases", type=int, action="append", default=[], help="revisit this case"
    )
    parser.add_argument(
        "--hosts-file",
        metavar="PATH",
        help="revisit only the due cases on the host names in this file, each with its DNS answer "
        "(JSON Lines): this crawl's share when several run side by side (takedown crawl writes them)",
    )
    parser.add_argument(
        "-s",
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a Scrapy setting",
    )
    parser.add_argument(
        "--processes",
        type=_processes,
        default=1,
        help="crawls side by side, the due cases shared out by server (this process starts them); "
        "'auto': one per thousand due cases, up to the machine's cores (what the scheduler runs)",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0)
    args = parser.parse_args(argv)
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)]
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    for handler in logging.root.handlers:
        handler.setLevel(level)
    try:
        now = ensure_utc(datetime.fromisoformat(args.now.replace("Z", "+00:00"))) if args.now else None
        settings = Settings.from_env()
        lookups = _lookups(args.hosts_file) if args.hosts_file else None
        overrides = dict(_setting(pair) for pair in args.overrides)
    except (ValueError, ConfigurationError) as exc:
        return _fail(str(exc), exitcodes.USAGE)
    try:
        Store.open(settings.database_url).dispose()  # fail early, with a clear message
        if args.processes != 1 and not args.cases and lookups is None:
            from crawler.processes import run_in_processes

            summary = run_in_processes(
                settings, args.processes, now=now, overrides=overrides, verbose=args.verbose
            )
        else:
            from crawler.run import run_revisits

            summary = run_revisits(settings, case_ids=args.cases, now=now, hosts=lookups, overrides=overrides)
    except DBAPIError as exc:
        logging.getLogger(__name__).info("the store failed", exc_info=exc)
        return _fail(describe_failure(exc), exitcodes.FAILURE)
    except TakedownError as exc:
        return _fail(str(exc), exitcodes.FAILURE)
    print(json.dumps(plain(summary)))
    if summary.finish_reason != "finished":
        return _fail(f"the crawl ended early ({summary.finish_reason})", exitcodes.FAILURE)
    return 0


def _lookups(path: str) -> list[AddressLookup]:
    from crawler.processes import lookup_from_json

    try:
        with open(path, encoding="utf-8") as listed:
            return [lookup_from_json(json.loads(line)) for line in listed if line.strip()]
    except OSError as exc:
        raise ValueError(f"--hosts-file {path}: {exc.strerror}") from None
    except (KeyError, TypeError, json.JSONDecodeError) as exc:
        raise ValueError(f"--hosts-file {path}: not what takedown crawl writes ({exc})") from None


def _processes(text: str) -> int | None:
    """``--processes``: a number of crawls, or ``auto`` (``None``: as many as the work is worth)."""
    if text == "auto":
        return None
    try:
        number = int(text)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of processes (1 or more) or 'auto'")
    return number


def _setting(pair: str) -> tuple[str, str]:
    name, sep, value = pair.partition("=")
    if not sep or not name.strip():
        raise ValueError(f"-s {pair!r}: write NAME=VALUE")
    return name.strip(), value


def _fail(message: str, code: int) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
