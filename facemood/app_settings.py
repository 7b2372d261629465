"""``config/app.yaml``: where the app finds its model and face step, its limits, and the
counselling resources it offers."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from facemood import config as cfg
from facemood.checkin import ClaritySettings
from facemood.distress import DistressPolicy
from facemood.faces import FaceSettings
from facemood.i18n import SOURCE_LANGUAGE, catalogue_languages
from facemood.recurring import RecurringSettings

# The environment variables that override keys of config/app.yaml.
APP_OVERRIDES = {"model_uri": cfg.ENV.MODEL_URI, "face_function": cfg.ENV.FACE_FUNCTION, "auth": cfg.ENV.AUTH,
                 "journal.table": cfg.ENV.JOURNAL_TABLE, "journal.pepper_secret": cfg.ENV.PEPPER_SECRET}
LOCAL_FACE_STEP = "local"  # face_function's value for the face step run in-process
AUTH_MODES = ("none", "oidc")  # auth: an open page, or sign-in through the campus identity provider


PLACEHOLDER_MARK = "fill in"  # text the committed config uses where a campus must put its own details


@dataclass(frozen=True)
class ResourceText:
    """A resource's words in another language; an empty field keeps the configured one (a link
    may differ too, e.g. a helpline's page in that language)."""

    name: str = ""
    note: str = ""
    url: str = ""


@dataclass(frozen=True)
class Resource:
    """A counselling resource: how to reach it by phone, text message or the web.

    The optional fields may be left empty in the YAML; a resource with no way to reach it, or
    still holding placeholder text, is never shown to students (``facemood check-config`` fails).
    """

    name: str
    phone: str = ""  # shown as a tel: link
    sms: str = ""  # shown as an sms: link
    url: str = ""
    note: str = ""
    translations: dict[str, ResourceText] = field(default_factory=dict)  # by language, e.g. es

    def in_language(self, language: str) -> Resource:
        """This resource with its words in ``language`` where they are configured."""
        text = self.translations.get(language)
        if text is None:
            return self
        return replace(self, name=text.name or self.name, note=text.note or self.note, url=text.url or self.url)

    def problem(self) -> str | None:
        """Why this resource cannot be shown to students, or None."""
        texts = [self.name, self.phone, self.sms, self.url, self.note] + [
            value for text in self.translations.values() for value in (text.name, text.note, text.url)]
        if any(PLACEHOLDER_MARK in text.lower() for text in texts):
            return f"{self.name!r} still holds placeholder text ({PLACEHOLDER_MARK!r})"
        if not (self.phone or self.sms or self.url):
            return f"{self.name!r} has no phone, sms or url"
        urls = [self.url] + [text.url for text in self.translations.values()]
        if any(url and not url.startswith("https://") for url in urls):
            return f"{self.name!r}: its url must start with https://"
        return None


@dataclass(frozen=True)
class JournalSettings:
    """``journal`` in config/app.yaml: where signed-in students' own check-ins are kept."""

    table: str  # the DynamoDB table
    pepper_secret: str  # the Secrets Manager secret whose value keys the students' pseudonyms
    retention_days: float  # each entry expires this long after its check-in
    view_days: float  # the page shows this many days of the student's check-ins
    timezone: str  # the campus's time zone: what "a day" means for the view and the recurring rule

    def __post_init__(self) -> None:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        if not self.table or not self.pepper_secret:
            raise ValueError("table and pepper_secret must be named")
        cfg.check_range("retention_days", self.retention_days, 0.0, 3650.0, open_low=True)
        cfg.check_range("view_days", self.view_days, 0.0, self.retention_days, open_low=True)
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"timezone: unknown time zone {self.timezone!r} (e.g. UTC, America/New_York)") from exc


# one attribute per key of the configuration file it mirrors
@dataclass(frozen=True)
class AppSettings:  # pylint: disable=too-many-instance-attributes
    """The app's settings; see ``config/app.yaml`` for what each key means."""

    model_uri: str  # a store root, a latest.json or a bundle folder
    face_function: str  # LOCAL_FACE_STEP, or the face Lambda's name
    face_timeout_seconds: float
    model_refresh_seconds: float
    upload_max_bytes: int  # an upload may exceed the Lambda payload: it is downscaled first
    upload_max_side: int  # photos are downscaled to this before the face step
    upload_jpeg_quality: int  # the JPEG sent to the face Lambda
    faces: FaceSettings
    distress: DistressPolicy
    clarity: ClaritySettings
    resources: tuple[Resource, ...]  # shown in this order
    emergency: str  # always shown with the resources
    emergency_phone: str  # its tel: link
    emergency_translations: dict[str, str]  # the emergency line by language (others: ``emergency``)
    languages: tuple[str, ...]  # the page's languages, each with a catalogue (facemood/locales); the first
                                # is used when the browser asks for none of them
    metrics_namespace: str  # CloudWatch namespace of the page's EMF metrics
    auth: str  # one of AUTH_MODES
    journal: JournalSettings
    recurring_distress: RecurringSettings
    booking_url: str = ""  # an https link to book a counselling appointment, offered with proactive help

    @property
    def signs_in(self) -> bool:
        """Whether the page requires the campus sign-in (and so can keep a journal)."""
        return self.auth == "oidc"

    def usable_resources(self, language: str = SOURCE_LANGUAGE) -> tuple[Resource, ...]:
        """The resources that can be shown to students (see :meth:`Resource.problem`), in ``language``."""
        return tuple(r.in_language(language) for r in self.resources if r.problem() is None)

    def emergency_in(self, language: str) -> str:
        """The emergency line in ``language`` where one is configured."""
        return self.emergency_translations.get(language, self.emergency)

    def problems(self) -> list[str]:
        """What keeps this configuration from going live (empty when it can)."""
        found = [problem for r in self.resources if (problem := r.problem())]
        return found + ([] if self.usable_resources() else ["no counselling resource can be shown"])

    def __post_init__(self) -> None:
        if self.auth not in AUTH_MODES:
            raise ValueError(f"auth must be one of {', '.join(AUTH_MODES)}, got {self.auth!r}")
        known = catalogue_languages()
        unknown = [lang for lang in self.languages if lang not in known]
        if not self.languages or unknown:
            raise ValueError(f"languages: {unknown[0] if unknown else 'none'} has no catalogue in facemood/locales; "
                             f"the page speaks {', '.join(known)}")
        if self.booking_url and not self.booking_url.startswith("https://"):
            raise ValueError(f"booking_url must start with https://, got {self.booking_url!r}")
        cfg.check_range("face_timeout_seconds", self.face_timeout_seconds, 0.0, 900.0, open_low=True)
        cfg.check_range("model_refresh_seconds", self.model_refresh_seconds, 0.0)
        cfg.check_range("upload_max_bytes", self.upload_max_bytes, 1024)
        cfg.check_range("upload_max_side", self.upload_max_side, 96, 8192)
        cfg.check_range("upload_jpeg_quality", self.upload_jpeg_quality, 1, 100)


def load_app_settings(path: str | Path | None = None) -> AppSettings:
    """App settings from ``config/app.yaml`` with environment overrides."""
    return cfg.load(AppSettings, path or cfg.config_path("app.yaml"), overrides=APP_OVERRIDES)
