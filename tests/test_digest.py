"""The weekly digest end to end on a real demo snapshot, delivered to a real aiosmtpd server on
127.0.0.1: one message per owner with an email, the figures equal ``costlens.queries`` (and the
warehouse), a second run sends none, a killed run resumes without duplicates, a refused
recipient does not stop the others, STARTTLS and AUTH work, injections stay inert."""

from __future__ import annotations

import datetime as dt
import html
import json
import os
import re
import ssl
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from email.message import EmailMessage
from pathlib import Path

import pytest
from app_snapshot import REPO, DemoData, warehouse_spend
from digest_servers import PASSWORD, USER, Inbox, self_signed, smtp_server

from costlens import queries
from costlens.attribution import load_owners
from costlens.attribution.owners import Owner
from costlens.config import DigestSettings, MailSettings, Settings
from costlens.errors import MailError
from reports.digest import (
    IsoWeek,
    last_complete_week,
    owner_digest,
    plan_digests,
    send_digests,
)
from reports.digest.log import digest_log
from reports.digest.message import build_message, dollars, render_html, render_text, subject
from reports.digest.transport import SmtpTransport

pytestmark = pytest.mark.slow
LEADERS = ["cfo@example.com", "finance@example.com"]


@pytest.fixture
def inbox() -> Inbox:
    return Inbox()


@pytest.fixture
def port(inbox: Inbox) -> Iterator[int]:
    with smtp_server(inbox) as p:
        yield p


def _emailed(demo: DemoData) -> list[Owner]:
    return sorted(
        (o for o in load_owners(demo.owners).owners.values() if o.emails), key=lambda o: o.id
    )


def _env(demo: DemoData, port: int, state: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        **demo.env(),
        "COSTLENS_STATE_URL": f"sqlite:///{state}",
        "COSTLENS_MAIL__HOST": "127.0.0.1",
        "COSTLENS_MAIL__PORT": str(port),
        "COSTLENS_MAIL__SECURITY": "none",
        "COSTLENS_MAIL__RATE_PER_SECOND": "200",
        "COSTLENS_DIGEST__LEADERSHIP": json.dumps(LEADERS),
        "COSTLENS_DIGEST__UNSUBSCRIBE": "digest-unsubscribe@example.com",
        **extra,
    }


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "costlens", "digest", *args],
        env=env, capture_output=True, text=True, timeout=300, check=False, cwd=REPO,
    )  # fmt: skip


def _settings(demo: DemoData, port: int, state: Path, **mail: object) -> Settings:
    return Settings(
        data_dir=demo.data_dir,
        owners=demo.owners,
        rules=demo.rules,
        state_url=f"sqlite:///{state}",
        mail=MailSettings.model_validate(
            {"host": "127.0.0.1", "port": port, "security": "none", "rate_per_second": 200, **mail}
        ),
        digest=DigestSettings(leadership=LEADERS),
    )


def _parts(msg: EmailMessage) -> tuple[str, str]:
    assert msg.get_content_type() == "multipart/alternative"
    text = msg.get_body(("plain",))
    page = msg.get_body(("html",))
    assert text is not None and page is not None
    return str(text.get_content()), str(page.get_content())


def test_default_week_is_the_data_s_last_complete_week(snap: queries.Snapshot) -> None:
    last = snap.info.last_date
    assert last is not None
    week = last_complete_week(last)
    assert week is not None and week.end <= last < week.end + dt.timedelta(days=7)


def test_send_one_digest_per_owner_figures_equal_queries_then_none(
    demo: DemoData, snap: queries.Snapshot, inbox: Inbox, port: int, tmp_path: Path
) -> None:
    env = _env(demo, port, tmp_path / "state.db")
    proc = _cli(env, "--send", "--json")
    assert proc.returncode == 0, proc.stderr
    assert PASSWORD not in proc.stdout + proc.stderr
    result = json.loads(proc.stdout)
    week = last_complete_week(snap.info.last_date)
    assert week is not None and result["week"] == str(week)
    owners = _emailed(demo)
    by_to = {tuple(rcpt): msg for rcpt, msg in inbox.received}
    assert len(inbox.received) == len(owners) + 1  # + leadership
    assert len({m["Message-ID"].strip() for m in inbox.messages()}) == len(inbox.received)
    for o in owners:
        msg = by_to[o.emails]
        text, page = _parts(msg)
        where = {"owner": [o.id]}
        weekly = queries.spend(
            snap, grain="week", start=week.shift(-4).start, end=week.end, where=where
        )
        cost = {IsoWeek.of(p): c for p, c in zip(weekly["period"], weekly["cost"], strict=True)}
        total = cost.get(week, Decimal(0))
        assert total == warehouse_spend(demo, week.start, week.end, owner=o.id)
        prev = cost.get(week.shift(-1), Decimal(0))
        four = cost.get(week.shift(-4), Decimal(0))
        pct = f"{(total - prev) / prev * 100:+.1f} %" if prev else "new"
        assert (
            msg["Subject"]
            == f"costlens · {o.display_name} · week {week}: {dollars(total, False)} ({pct})"
        )
        for figure in (dollars(total), dollars(prev), dollars(four)):
            assert figure in text and figure in page
        assert "unblended cost" in text and "unblended cost" in page
        b = queries.budgets(snap)
        row = b[b["owner"] == o.id]
        if not row.empty:
            assert dollars(row.iloc[0]["budget"]) in text
        ranking = queries.owner_ranking(snap)
        card = ranking[ranking["scope_id"] == o.id]
        if not card.empty:
            assert f"grade {card.iloc[0]['grade']}" in text
            for action in queries.top_actions(snap, o.id, 3):
                assert action["text"] in text
        found = queries.anomalies(snap, owner=o.id, start=week.start, end=week.end)
        for a in found.to_dict("records"):
            assert dollars(a["impact_cost"]) in text and f"anomaly={a['anomaly_id']}" in page
            if a["total_impact"] is not None:  # followed to the data's last day, in both parts
                so_far = dollars(abs(a["total_impact"]))
                assert f"(data through {a['followed_until']})" in text, a["anomaly_id"]
                assert so_far in text and so_far in page, a["anomaly_id"]
        assert msg["Date"] and msg["List-Unsubscribe"] == "<mailto:digest-unsubscribe@example.com>"
        assert not re.search(r"(src|href)=\"(?!http://localhost:8501)", page)
    leaders = by_to[tuple(LEADERS)]
    _, page = _parts(leaders)
    assert all(html.escape(o.display_name) in page for o in owners)
    assert all(d["status"] == "sent" for d in result["digests"])
    log = digest_log(f"sqlite:///{tmp_path / 'state.db'}", week=str(week))
    assert {r.owner for r in log} == {o.id for o in owners} | {"*"}
    assert {r.message_id for r in log} == {m["Message-ID"].strip() for m in inbox.messages()}

    again = _cli(env, "--send", "--json")
    assert again.returncode == 0, again.stderr
    assert len(inbox.received) == len(owners) + 1  # nothing new
    assert {d["status"] for d in json.loads(again.stdout)["digests"]} == {"skipped"}

    first = by_to[owners[0].emails]["Message-ID"]
    resent = _cli(env, "--send", "--resend", "--owner", owners[0].id)
    assert resent.returncode == 0, resent.stderr
    assert len(inbox.received) == len(owners) + 2
    new = inbox.messages()[-1]
    assert new["Message-ID"] != first and new["References"] == first


def test_month_to_date_is_as_of_the_chosen_week(demo: DemoData, snap: queries.Snapshot) -> None:
    """Month to date runs to the week's last day, in the budgets' cost type; the forecast and
    budget status (made on all the data) appear only for a week of the forecast's month."""
    payments = load_owners(demo.owners).owner("payments")
    assert payments.monthly_budget is not None
    forecast = queries.forecasts(snap)
    (month,) = set(forecast.loc[forecast["owner"] == "payments", "billing_period"])
    last = snap.info.last_date
    assert last is not None
    weeks = {"latest": IsoWeek.of(last), "earlier": IsoWeek.of(month - dt.timedelta(days=10))}
    for name, week in weeks.items():
        d = owner_digest(snap, payments, week)
        through = min(week.end, last)
        assert d.through == through and d.billing_period == through.replace(day=1)
        assert d.month_to_date == warehouse_spend(
            demo, through.replace(day=1), through, "amortized_cost", owner="payments"
        )
        assert d.budget == payments.monthly_budget
        text = render_text(d, "http://localhost:8501")
        assert f"through {through:%d %b}: {dollars(d.month_to_date)}" in text
        if name == "latest" and d.billing_period == month:
            assert d.projected is not None and d.forecast_through == last
            assert f"on data through {last:%d %b}" in text
        else:
            assert d.projected is None and "forecast" not in text
            over = d.month_to_date > payments.monthly_budget
            assert d.budget_status == ("over" if over else None)


def test_without_send_prints_the_plan_and_dry_run_writes_files(
    demo: DemoData, port: int, inbox: Inbox, tmp_path: Path
) -> None:
    env = _env(demo, port, tmp_path / "state.db")
    plan = _cli(env)
    assert plan.returncode == 0, plan.stderr
    owners = _emailed(demo)
    for o in owners:
        assert f" {o.id} -> {o.emails[0]} [planned]: costlens · {o.display_name}" in plan.stdout
    out = tmp_path / "preview"
    dry = _cli(env, "--dry-run", str(out), "--week", "2025-W24")
    assert dry.returncode == 0, dry.stderr
    assert inbox.received == []
    for o in owners:
        assert (out / f"{o.id}-2025-W24.eml").is_file() and (
            out / f"{o.id}-2025-W24.html"
        ).is_file()
    bad = _cli(env, "--week", "2025-24")
    assert bad.returncode == 1 and len(bad.stderr.strip().splitlines()) == 1
    assert "YYYY-Www" in bad.stderr
    unknown = _cli(env, "--owner", "nobody")
    assert unknown.returncode == 1 and "payments" in unknown.stderr


def test_one_refused_recipient_others_delivered_nonzero_exit(
    demo: DemoData, inbox: Inbox, port: int, tmp_path: Path
) -> None:
    owners = _emailed(demo)
    victim = owners[1]
    inbox.refuse.add(victim.emails[0])
    env = _env(demo, port, tmp_path / "state.db")
    proc = _cli(env, "--send")
    assert proc.returncode == 4
    assert (
        victim.id in proc.stderr and "550" in proc.stderr and "mailbox unavailable" in proc.stderr
    )
    delivered = {tuple(r) for r, _ in inbox.received}
    assert delivered == {o.emails for o in owners if o is not victim} | {tuple(LEADERS)}
    inbox.refuse.clear()  # fixed: the next run sends only the one that failed
    retry = _cli(env, "--send")
    assert retry.returncode == 0, retry.stderr
    assert [tuple(r) for r, _ in inbox.received[len(delivered) :]] == [victim.emails]


class Killed(BaseException):
    """The process dying (not an error a loop would catch)."""


def test_resume_after_a_crash_between_two_recipients_sends_no_duplicate(
    demo: DemoData, snap: queries.Snapshot, inbox: Inbox, port: int, tmp_path: Path
) -> None:
    cfg = _settings(demo, port, tmp_path / "state.db")
    registry = load_owners(demo.owners)
    week = IsoWeek.parse("2025-W25")
    planned = plan_digests(cfg, snap, registry, week)
    calls = 0

    def die_at_third_pause(seconds: float) -> None:  # the rate limit's pause between sends
        nonlocal calls
        calls += 1
        if calls == 3:
            raise Killed

    with SmtpTransport(cfg.mail, None) as t, pytest.raises(Killed):
        send_digests(cfg, planned, week, t, sleep=die_at_third_pause, clock=lambda: 0.0)
    assert len(inbox.received) == 3
    with SmtpTransport(cfg.mail, None) as t:
        outcomes = send_digests(cfg, planned, week, t, sleep=lambda s: None)
    assert [o.status for o in outcomes] == ["skipped"] * 3 + ["sent"] * (len(planned) - 3)
    rcpts = [tuple(r) for r, _ in inbox.received]
    assert len(rcpts) == len(set(rcpts)) == len(planned)


def test_crash_inside_the_transaction_is_reported_unconfirmed_not_resent(
    demo: DemoData, snap: queries.Snapshot, inbox: Inbox, port: int, tmp_path: Path
) -> None:
    cfg = _settings(demo, port, tmp_path / "state.db")
    planned = plan_digests(cfg, snap, load_owners(demo.owners), IsoWeek.parse("2025-W25"))[:2]

    class DiesAfterDelivering(SmtpTransport):
        def send(self, msg, recipients):  # type: ignore[no-untyped-def]
            super().send(msg, recipients)
            raise Killed  # delivered, but the log was not updated

    week = IsoWeek.parse("2025-W25")
    with DiesAfterDelivering(cfg.mail, None) as t, pytest.raises(Killed):
        send_digests(cfg, planned, week, t, sleep=lambda s: None)
    with SmtpTransport(cfg.mail, None) as t:
        outcomes = send_digests(cfg, planned, week, t, sleep=lambda s: None)
    assert [o.status for o in outcomes] == ["unconfirmed", "sent"]
    assert len(inbox.received) == 2  # the first once, never twice


def test_starttls_with_auth_and_a_self_signed_certificate(
    demo: DemoData, snap: queries.Snapshot, tmp_path: Path
) -> None:
    inbox = Inbox()
    cert, key = self_signed(tmp_path)
    trust = ssl.create_default_context(cafile=str(cert))
    with smtp_server(inbox, tls=(cert, key), auth=True) as port:
        cfg = _settings(demo, port, tmp_path / "state.db", security="starttls", username=USER)
        planned = plan_digests(
            cfg, snap, load_owners(demo.owners), IsoWeek.parse("2025-W25"), owner="payments"
        )
        with SmtpTransport(cfg.mail, "wrong", context=trust) as t:
            bad = send_digests(cfg, planned, IsoWeek.parse("2025-W25"), t, sleep=lambda s: None)
        assert bad[0].status == "failed" and "535" in bad[0].answer
        assert "wrong" not in bad[0].answer
        with SmtpTransport(cfg.mail, PASSWORD, context=trust) as t:
            ok = send_digests(cfg, planned, IsoWeek.parse("2025-W25"), t, sleep=lambda s: None)
        assert ok[0].status == "sent"
        # Plain (unencrypted) connection to a server that requires STARTTLS: refused, explained.
        plain = cfg.mail.model_copy(update={"security": "none"})
        with (
            SmtpTransport(plain, PASSWORD) as t,
            pytest.raises(MailError, match=r"AUTH|530|STARTTLS"),
        ):
            t.send(EmailMessage(), ["x@example.com"])
    assert len(inbox.received) == 1 and inbox.received[0][0] == ["amara.okafor@example.com"]


def test_implicit_tls_ssl_with_auth(demo: DemoData, snap: queries.Snapshot, tmp_path: Path) -> None:
    inbox = Inbox()
    cert, key = self_signed(tmp_path)
    week = IsoWeek.parse("2025-W25")
    with smtp_server(inbox, tls=(cert, key), auth=True, implicit_tls=True) as port:
        cfg = _settings(demo, port, tmp_path / "state.db", security="ssl", username=USER)
        planned = plan_digests(cfg, snap, load_owners(demo.owners), week, owner="payments")
        trust = ssl.create_default_context(cafile=str(cert))
        with SmtpTransport(cfg.mail, PASSWORD, context=trust) as t:
            assert send_digests(cfg, planned, week, t, sleep=lambda s: None)[0].status == "sent"
        # The certificate is not trusted by default: one clear error, nothing sent.
        with (
            SmtpTransport(cfg.mail, PASSWORD) as t,
            pytest.raises(MailError, match="certificate"),
        ):
            t.send(EmailMessage(), ["x@example.com"])
    assert [r for r, _ in inbox.received] == [["amara.okafor@example.com"]]


def test_plain_auth_without_tls(demo: DemoData, snap: queries.Snapshot, tmp_path: Path) -> None:
    inbox = Inbox()
    with smtp_server(inbox, auth=True) as port:
        cfg = _settings(demo, port, tmp_path / "state.db", username=USER)
        planned = plan_digests(
            cfg, snap, load_owners(demo.owners), IsoWeek.parse("2025-W25"), owner="payments"
        )
        with SmtpTransport(cfg.mail, PASSWORD) as t:
            assert send_digests(cfg, planned, IsoWeek.parse("2025-W25"), t)[0].status == "sent"
    assert len(inbox.received) == 1


def test_injection_in_names_and_tags_stays_inert(
    snap: queries.Snapshot, inbox: Inbox, port: int
) -> None:
    evil = "Pay<script>alert(1)</script>\r\nBcc: victim@evil.example"
    owner = Owner(id="payments", display_name=evil, emails=("amara.okafor@example.com",))
    d = owner_digest(snap, owner, IsoWeek.parse("2025-W25"))
    tag = '<img src="http://evil.example/pixel.png">\r\nX-Injected: 1'
    moved = tuple(replace(m, microservice=tag) for m in d.movers) or ()
    d = replace(d, movers=moved, table=tuple(replace(r, region=tag) for r in d.table))
    page = render_html(d, "http://localhost:8501")
    assert "<script>" not in page and "<img" not in page and "&lt;script&gt;" in page
    assert not re.search(r"<(img|link|script|iframe)\b|url\(|@import", page)
    msg = build_message(
        subject_line=subject(d), text=render_text(d, "http://x"), html_body=page,
        sender="costlens@example.com", recipients=owner.emails, message_id="<1@example.com>",
        date=dt.datetime(2025, 6, 30, tzinfo=dt.UTC),
        owner_name=evil,
    )  # fmt: skip
    with SmtpTransport(MailSettings(host="127.0.0.1", port=port, security="none"), None) as t:
        t.send(msg, owner.emails)
    ((rcpts, got),) = inbox.received
    assert rcpts == ["amara.okafor@example.com"]
    assert got["Bcc"] is None and got["X-Injected"] is None
    assert "\n" not in str(got["Subject"]) and "\n" not in str(got["To"])


def test_sync_with_digest_auto_sends_the_week_once(
    demo: DemoData, inbox: Inbox, port: int, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    env = _env(demo, port, tmp_path / "state.db", COSTLENS_DIGEST__AUTO="true")
    env["COSTLENS_DATA_DIR"] = str(data)
    exports = demo.data_dir.parent / "exports"
    for _ in range(2):
        proc = subprocess.run(
            [sys.executable, "-m", "costlens", "sync", str(exports)],
            env=env, capture_output=True, text=True, timeout=300, check=False, cwd=REPO,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
    assert "digest 2025-W26: " in proc.stdout
    assert len(inbox.received) == len(_emailed(demo)) + 1  # the second sync sent none
