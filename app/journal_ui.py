"""The page's sign-in and journal parts: who the student is (from the identity Streamlit
verified), the switch, the last days' check-ins with download and delete, and the gentle note
when hard days recur. The journal's rules live in facemood.journal and facemood.recurring."""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit

import streamlit as st
from page_language import _, ngettext, words

from facemood import aws, charts, secret_store, telemetry
from facemood.app_settings import AppSettings
from facemood.checkin import CheckIn
from facemood.clock import DAY_SECONDS
from facemood.errors import StorageError
from facemood.i18n import expression_names
from facemood.journal import Choices, Journal, JournalEntry, student_key, to_csv
from facemood.recurring import recurring_distress

log = logging.getLogger("facemood.app")


@st.cache_resource
def journal_table(table: str, retention_days: float) -> Journal:
    """The journal's DynamoDB table (moto's server locally), one client per process."""
    return Journal(table, aws.aws_client("dynamodb"), retention_days)


@st.cache_resource(ttl=3600)
def pepper(secret_id: str) -> bytes:
    """The secret that keys students' pseudonyms, from Secrets Manager (re-read hourly)."""
    return secret_store.read_secret(aws.aws_client("secretsmanager"), secret_id).encode()


@dataclass(frozen=True)
class Student:
    """The signed-in student: their pseudonym (from the verified identity only) and the journal."""

    key: str
    journal: Journal


def sign_in_configured() -> bool:
    """Whether Streamlit's secrets hold the [auth] section st.login needs."""
    try:
        return "auth" in st.secrets
    except FileNotFoundError:  # no secrets file at all
        return False


SIGN_IN_FAILED = ("sign_in", "failed")  # the query parameter the page adds when a sign-in came back failed
SIGNED_OUT_COOKIE = "facemood_signed_out"  # "1" from the Sign out button until the page is back (no identity)


def auth_origin(setting: str) -> str | None:
    """The scheme and host of a URL in Streamlit's [auth] secrets: ``redirect_uri`` (where sign-in
    returns, e.g. http://127.0.0.1:8501) or ``server_metadata_url`` (the identity provider)."""
    parts = urlsplit(str(st.secrets["auth"].get(setting, "")))
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None


def sign_in_ui(settings: AppSettings) -> Student | None:
    """With ``auth: oidc``: the signed-in student, or None after offering the campus sign-in."""
    if not sign_in_configured():
        log.error("sign-in is on but not set up: config/app.yaml says auth: oidc, and Streamlit's secrets "
                  "hold no [auth] section (facemood sign-in-secrets writes it)")
        st.error(_("Sign-in is switched on but not set up, so FaceMood can't be used right now. "
                   "Please tell the service's administrators."))
        return None
    if not st.user.is_logged_in:
        _signed_out_ui(settings)
        return None
    return _signed_in_ui(settings)


def _signed_out_ui(settings: AppSettings) -> None:
    """The campus sign-in offer, with a word on how the last attempt went (signed out, failed)."""
    st.markdown(_("Sign in with your campus account to check in. Your photos are never stored, and "
                  "nothing about you is shared with anyone."))
    if st.context.cookies.get(SIGNED_OUT_COOKIE) == "1":
        # back from signing out (through the provider's own sign-out page, where it has one): that
        # is not a failed sign-in; the mark is a one-time note, gone once read
        st.success(_("You're signed out."))
        st.html(f"<script>document.cookie = '{SIGNED_OUT_COOKIE}=; path=/; max-age=0';</script>",
                unsafe_allow_javascript=True)
    elif st.query_params.get(SIGN_IN_FAILED[0]) == SIGN_IN_FAILED[1]:
        telemetry.record_error(settings.metrics_namespace, "SignInFailed")
        st.warning(_("Signing in didn't work that time. Please try again; if it keeps failing, tell the "
                     "student services team."))
    elif provider := auth_origin("server_metadata_url"):
        # Back from the identity provider, yet signed out: the sign-in failed (Streamlit logs why and
        # returns to the page with no sign of it). The browser knows where it came from; say so.
        # (a reload keeps the referrer: only the arrival itself counts)
        st.html(f"<script>if (document.referrer.startsWith({json.dumps(provider)}) && "
                "performance.getEntriesByType('navigation')[0]?.type === 'navigate') "
                f"window.location.replace('?{SIGN_IN_FAILED[0]}={SIGN_IN_FAILED[1]}');</script>",
                unsafe_allow_javascript=True)
    origin = auth_origin("redirect_uri")
    if origin and urlsplit(st.context.url or "").netloc not in ("", urlsplit(origin).netloc):
        # the provider returns the student to the redirect URI's host only: signing in from another
        # name of this server (localhost for 127.0.0.1) would loop back here, signed out
        st.markdown(_("Sign-in works at {address} only: taking you there...").format(address=origin))
        st.html(f"<script>window.location.replace({json.dumps(origin + '/')});</script>",
                unsafe_allow_javascript=True)
        return
    if st.button(_("Sign in"), key="sign_in", type="primary"):
        st.login()


def _signed_in_ui(settings: AppSettings) -> Student:
    """The signed-in student's line with the Sign out button; a new student forgets the last one's state."""
    # iss and sub come from the ID token Streamlit verified and keeps in its signed cookie:
    # nothing the browser sends can name another student's journal.
    key = student_key(pepper(settings.journal.pepper_secret), str(st.user.get("iss", "")),
                      str(st.user.get("sub", "")))
    if st.session_state.get("student_key") != key:  # another student in this browser session: forget the last
        for name in ("journal_entries", "journal_on", "journal_choices", "confirm_delete", "journal_deleted",
                     "journal_problem"):
            st.session_state.pop(name, None)
        st.session_state["student_key"] = key
    left, right = st.columns([4, 1])
    who = st.user.get("name") or st.user.get("email") or _("a campus user")
    left.markdown(_("Signed in as {name}.").format(name=who).replace("@", "&#64;"))  # as text, not a mailto: link
    if right.button(_("Sign out"), key="sign_out"):
        # Mark the browser session as signing out, then sign out (what st.logout does: Streamlit's
        # auth/logout route clears the identity cookie and goes through the provider's sign-out page
        # when it has one); back on the page, the mark tells a sign-out from a failed sign-in.
        st.html(f"<script>document.cookie = '{SIGNED_OUT_COOKIE}=1; path=/; SameSite=Lax';"
                "window.location.assign(new URL('auth/logout', document.baseURI));</script>",
                unsafe_allow_javascript=True)
    return Student(key, journal_table(settings.journal.table, settings.journal.retention_days))


def journal_entries(student: Student, settings: AppSettings) -> list[JournalEntry]:
    """The student's check-ins of the days the page looks at, read once per change."""
    cached = st.session_state.get("journal_entries")
    if cached is None:
        days = max(settings.journal.view_days, settings.recurring_distress.within_days)
        cached = student.journal.entries(student.key, since=time.time() - days * DAY_SECONDS)
        st.session_state["journal_entries"] = cached
    return cached


def proactive_ui(settings: AppSettings, entries: list[JournalEntry], resources: str) -> None:
    """Before any new photo: a gentle word when the student's own journal shows distress recurring;
    ``resources`` is the counselling resources as Markdown."""
    if not recurring_distress(entries, settings.recurring_distress, time.time(), settings.journal.timezone):
        return
    names = expression_names(words())
    seen = sorted({names[e.top] for e in entries[-settings.recurring_distress.last:] if e.flagged})
    booking = ""
    if settings.booking_url:
        booking = "\n\n[" + _("Book a time to talk with a counsellor") + f"]({settings.booking_url})"
    st.info(_("**Welcome back.** Several of your recent check-ins looked {expressions}. Hard stretches happen to "
              "everyone, and you don't have to wait for a bad day to talk to someone:").format(
                expressions=_(" or ").join(seen))
            + "\n\n" + resources + booking + "\n\n"
            + _("This note comes only from your own check-ins, which only you can see. It is not a diagnosis, "
                "and nobody else is told."), icon=":material/favorite:")


def journal_choices(student: Student) -> Choices:
    """The student's choices (journal switch, notice read), read once per page session."""
    if "journal_choices" not in st.session_state:
        st.session_state["journal_choices"] = student.journal.choices(student.key)
    return st.session_state["journal_choices"]


def notice_read_before(student: Student | None) -> bool:
    """Whether this signed-in student read the notice on an earlier visit (their journal is on and
    keeps that); False without a student or when the journal cannot be reached."""
    if student is None:
        return False
    try:
        choices = journal_choices(student)
    except StorageError as exc:
        log.warning("the journal's choices cannot be read", extra={"error": str(exc)})
        return False
    return choices.keep and choices.notice


def remember_notice_read(student: Student | None) -> None:
    """Keep "notice read" in the student's journal when it is on (only then is anything kept)."""
    if student is None:
        return
    try:
        if journal_choices(student).keep:
            student.journal.accept_notice(student.key)
    except StorageError as exc:  # the page goes on: the notice is asked again next time, no more
        log.warning("the notice could not be remembered in the journal", extra={"error": str(exc)})


def journal_switch_ui(student: Student, settings: AppSettings) -> bool:
    """The opt-in: off until the student turns it on; the choice is remembered in the journal."""
    if "journal_on" not in st.session_state:
        st.session_state["journal_on"] = journal_choices(student).keep

    def remember_choice() -> None:
        try:
            student.journal.switch(student.key, st.session_state["journal_on"])
            if st.session_state["journal_on"]:  # they read the notice to get here: no device need ask again
                student.journal.accept_notice(student.key)
        except StorageError as exc:  # the switch goes back: the page never claims what was not saved
            st.session_state["journal_on"] = not st.session_state["journal_on"]
            log.warning("the journal switch could not be saved", extra={"error": str(exc)})
            st.session_state["journal_problem"] = _("Your choice could not be saved just now; please try again.")

    st.toggle(_("Keep my check-ins (only you can see them)"), key="journal_on", on_change=remember_choice,
              help=_("Kept: the time, the seven percentages, whether the reading was clear and whether help was "
                     "offered. Never your photo. Each entry is deleted after {days} days; you can download or "
                     "delete them all at any time.").format(days=f"{settings.journal.retention_days:g}"))
    problem = st.session_state.pop("journal_problem", None)
    if problem:
        st.warning(problem)
    deleted = st.session_state.pop("journal_deleted", None)
    if deleted is not None:
        st.success(ngettext("Done: all your check-ins are deleted ({count} item removed). The journal is off.",
                            "Done: all your check-ins are deleted ({count} items removed). The journal is off.",
                            deleted).format(count=deleted))
    return bool(st.session_state["journal_on"])


def journal_ui(student: Student, settings: AppSettings, entries: list[JournalEntry]) -> None:
    """The student's own check-ins of the last days on a time axis, download and delete."""
    st.divider()
    now = time.time()
    shown = [e for e in entries if e.time >= now - settings.journal.view_days * DAY_SECONDS]
    days = f"{settings.journal.view_days:g}"
    if shown:
        st.markdown(_("Your check-ins, last {days} days ({count}); only you can see these").format(
            days=days, count=len(shown)))
        points = [(e.time, e.top, e.probabilities[e.top], e.clear) for e in shown]
        st.vega_lite_chart(charts.timeline(points, start=now - settings.journal.view_days * DAY_SECONDS, end=now,
                                           time_format=_("%a %d"), words=words()), width="stretch")
    else:
        st.markdown(_("No check-ins kept in the last {days} days.").format(days=days))
    st.download_button(_("Download my check-ins (CSV)"), key="download",
                       data=lambda: to_csv(student.journal.entries(student.key)),
                       file_name="facemood-check-ins.csv", mime="text/csv", on_click="ignore")
    if not st.session_state.get("confirm_delete"):
        if st.button(_("Delete all my check-ins"), key="delete"):
            st.session_state["confirm_delete"] = True
            st.rerun()
        return
    st.warning(_("This deletes every check-in you have kept, now and for good."))
    yes, no = st.columns(2)
    if yes.button(_("Yes, delete them all"), key="delete_confirmed", type="primary"):
        try:
            count = student.journal.delete_all(student.key)
        except StorageError as exc:
            st.session_state.pop("journal_entries", None)  # show what is left
            log.warning("the journal could not be deleted in full", extra={"error": str(exc)})
            st.error(_("Not everything could be deleted just now. Nothing is hidden from you: what is left is "
                       "shown above. Please try again."))
            return
        for name in ("confirm_delete", "journal_entries", "journal_on", "journal_choices"):
            st.session_state.pop(name, None)
        st.session_state["journal_deleted"] = count
        st.rerun()
    if no.button(_("Cancel"), key="delete_cancelled"):
        st.session_state.pop("confirm_delete", None)
        st.rerun()


def keep(student: Student, this_check_in: CheckIn) -> None:
    """Add this check-in to the student's journal (called once per check-in)."""
    kept = this_check_in.kept_reading  # the flagged face when there is one (docs/data-formats.md)
    student.journal.add(student.key, JournalEntry(time.time(), uuid.uuid4().hex[:12], kept.probabilities,
                                                  kept.clear, this_check_in.flagged))
    st.session_state.pop("journal_entries", None)
