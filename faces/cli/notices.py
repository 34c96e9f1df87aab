"""Notices: ``notices send|preview|list``."""

from __future__ import annotations

import sys
from typing import Any

import click

from faces.cli.base import (
    App,
    cli,
    errors_as_exit_codes,
    fail,
    json_option,
    print_json,
)
from takedown import exitcodes
from takedown.plain import iso, plain
from takedown.vocabulary import NoticeLevel, NoticeStatus

# --- notices ---------------------------------------------------------------------------------------

NOTICE_STATUSES = tuple(status.value for status in NoticeStatus)


@cli.group()
def notices() -> None:
    """Takedown notices: compose, preview, send through the outbox, list."""


@notices.command("send")
@click.option(
    "--due", is_flag=True, help="First compose the notice rounds now due, as the chase policy says."
)
@json_option
@click.pass_obj
def notices_send(app: App, due: bool, as_json: bool) -> None:
    """Deliver what the outbox holds (after composing the due notice rounds, with --due).

    A case's round is its initial notice, then reminders, then escalations up the ladder, as the
    chase policy (TAKEDOWN_CHASE_POLICY) says; past the last rung an analyst is asked to act. One
    notice per recipient per round, listing all its cases, each with an X-ARF report. A notice is
    written before it is sent and sent at most once; see `takedown notices list`.

    Exit status: 0 all delivered; 3 something was deferred, refused, uncertain, or had no recipient.
    """
    from notices.outbox import Outbox
    from schedules.jobs import notify_job

    with errors_as_exit_codes():
        composed: dict[str, Any] = {
            "notices": 0,
            "cases": 0,
            "unaddressable": [],
            "deferred": [],
            "needs_analyst": [],
        }
        if due:  # the very job the scheduler runs: compose the due rounds, then deliver
            result = notify_job(app.settings, app.store, app.clock)
            rounds, delivered = result.rounds, result.delivery
            composed = {
                "notices": sum(rounds.notices.values()),
                "cases": sum(rounds.cases.values()),
                "by_level": rounds.notices,
                "unaddressable": [{"case": cid, "reason": why} for cid, why in rounds.unaddressable],
                "deferred": [
                    {"case": cid, "reason": d.reason, "until": iso(d.until)}
                    for cid, d in rounds.deferred.items()
                ],
                "needs_analyst": rounds.needs_analyst,
            }
        else:
            delivered = Outbox(app.store, app.settings, app.clock).deliver_due()
    report = {"composed": composed, "delivered": delivered.counts, "recovered": delivered.recovered}
    if as_json:
        print_json(report)
    else:
        if due:
            click.echo(f"composed {composed['notices']} notices about {composed['cases']} cases")
            for item in composed["unaddressable"]:
                click.echo(f"  case {item['case']}: nobody to notify ({item['reason']})")
            for item in composed["deferred"]:
                click.echo(f"  case {item['case']}: put off until {item['until']} ({item['reason']})")
            for case_id in composed["needs_analyst"]:
                click.echo(f"  case {case_id}: still live after every notice round; an analyst must act")
        counts = (
            ", ".join(f"{name} {count}" for name, count in sorted(delivered.counts.items())) or "nothing due"
        )
        click.echo(f"delivered: {counts}")
        if any(delivered.recovered.values()):
            click.echo(f"recovered after an interrupted run: {delivered.recovered}")
    unwell = {k: v for k, v in delivered.counts.items() if k != "sent"}
    if unwell or composed["unaddressable"] or composed["deferred"]:
        sys.exit(exitcodes.PARTIAL)


@notices.command("preview")
@click.argument("target")
@click.option(
    "--level",
    type=click.Choice([level.value for level in NoticeLevel]),
    help="The level to preview. Default: a case's next round as the chase policy has it; "
    "a recipient's first notice.",
)
@click.option("--html", "show_html", is_flag=True, help="Print the HTML part instead of the text part.")
@json_option
@click.pass_obj
def notices_preview(app: App, target: str, level: str | None, show_html: bool, as_json: bool) -> None:
    """Show the notice(s) a case (TARGET is a case id) or a recipient (an e-mail address) would get.

    Nothing is stored or sent. A recipient's preview covers all its live cases. Exit status 4 when
    there is no such case or recipient; 3 when the case exists but nobody would be notified (the
    reason is printed).
    """
    import email
    import email.policy

    from notices.message import signed_content
    from notices.preview import NoticePreviewer
    from takedown.cases import live_case_ids

    chosen = NoticeLevel(level) if level else None
    with errors_as_exit_codes():
        previewer = NoticePreviewer(app.settings, app.store, app.clock)
        click.get_current_context().call_on_close(previewer.close)
        if target.isdigit():
            preview = previewer.for_case(int(target), chosen)
            drafts = list(preview.notices)
        else:
            with app.store.session() as session:
                live = live_case_ids(session)
            preview = previewer.for_cases(live, chosen or NoticeLevel.INITIAL)
            drafts = [d for d in preview.notices if d.recipient.lower() == target.lower()]
    if not drafts:
        reasons = list(preview.nobody_because)
        if target.isdigit():  # the case exists: nobody can be written to about it (yet)
            fail(
                f"case {target}: nobody would be notified: {'; '.join(reasons) or 'no recipient'}",
                exitcodes.PARTIAL,
            )
        fail("; ".join(reasons) or f"no live case would be notified to {target}", exitcodes.NOT_FOUND)
    for draft in drafts:
        parsed = email.message_from_string(draft.raw, policy=email.policy.default)
        part = parsed.get_body(preferencelist=("html",) if show_html else ("plain",))
        body = part.get_content() if part is not None else ""
        if as_json:
            print_json(
                {
                    "recipient": draft.recipient,
                    "role": draft.role,
                    "party": draft.party,
                    "language": draft.language,
                    "level": draft.level,
                    "subject": draft.subject,
                    "cases": list(draft.case_ids),
                    "body": body,
                }
            )
            continue
        content = signed_content(parsed)  # a signed notice: what it says is inside the signature
        for header in ("From", "To", "Subject"):
            click.echo(f"{header}: {parsed[header]}")
        click.echo(f"Content-Language: {content['Content-Language']}")
        attachments = [a.get_filename() for a in content.iter_attachments()]
        click.echo(f"Attachments: {', '.join(str(a) for a in attachments)}")
        click.echo("")
        click.echo(body)


@notices.command("list")
@click.option("--status", type=click.Choice(NOTICE_STATUSES), help="Only notices in this state.")
@click.option("--limit", type=click.IntRange(1), default=100, show_default=True)
@json_option
@click.pass_obj
def notices_list(app: App, status: str | None, limit: int, as_json: bool) -> None:
    """The outbox, newest first: who, what level, how many cases, and how delivery went.

    `--status uncertain` lists notices a crash left in doubt (presumed delivered, never resent);
    `--status failed` those refused for good (their mailbox is now marked bad in the contact book).
    """
    from notices.listing import list_notices

    with errors_as_exit_codes(), app.sql_reads() as reads:
        rows = [plain(listing) for listing in list_notices(reads, status=status, limit=limit)]
    if as_json:
        for row in rows:
            print_json(row)
        return
    if not rows:
        click.echo("no notices" + (f" with status {status}" if status else ""))
    for row in rows:
        when = row["sent_at"] or row["next_attempt_at"] or row["created_at"]
        error = f"  ({row['last_error']})" if row["last_error"] and row["status"] != "sent" else ""
        click.echo(
            f"{row['id']:>5} {row['status']:<12} {row['level']:<10} {row['role'] or '-':<9}"
            f" {row['recipient']}  {row['cases']} case(s)  {when}{error}"
        )


@notices.command("settle")
@click.argument("notice_ids", nargs=-1, required=True, type=click.IntRange(1))
@click.option(
    "--delivered/--resend",
    default=None,
    help="The mail server's log shows they arrived; or they did not, and are sent again (same Message-ID).",
)
@json_option
@click.pass_obj
def notices_settle(app: App, notice_ids: tuple[int, ...], delivered: bool | None, as_json: bool) -> None:
    """Settle notices in doubt (`notices list --status uncertain`) once the mail server's log says
    what happened. Only notices still uncertain change, each with an event on its cases.

    Exit status: 0 every one settled; 4 some were not in doubt (the rest are settled)."""
    from notices.settling import settle_uncertain

    if delivered is None:
        fail("say what the mail server's log shows: --delivered or --resend", exitcodes.USAGE)
    with errors_as_exit_codes(), app.writing() as target:
        done = settle_uncertain(
            target, notice_ids, delivered=delivered, actor=app.settings.actor, now=app.clock.now()
        )
    missed = sorted(set(notice_ids) - set(done))
    if as_json:
        print_json({"settled": done, "not_in_doubt": missed, "delivered": delivered})
    else:
        click.echo(f"{'delivered' if delivered else 'to send again'}: {', '.join(map(str, done)) or 'none'}")
    if missed:
        fail(
            f"not in doubt (unknown, or settled already): {', '.join(map(str, missed))}", exitcodes.NOT_FOUND
        )
