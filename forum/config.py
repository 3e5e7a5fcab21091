"""Settings: the single source of configuration, read from FORUM_* environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

Tier = Literal["participant", "worker", "member"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FORUM_", env_file=".env", extra="ignore")

    database_url: str = "sqlite:///./forum.db"
    base_url: str = "http://127.0.0.1:8000"
    redis_url: str | None = None
    # Prefix of every Redis key, so several forums can share one Redis.
    redis_prefix: str = "forum"
    # Live updates (forum/live.py): a comment line on every open stream this often, so proxies and
    # browsers keep it open; and how long a page waits before reconnecting after a drop.
    live_heartbeat_seconds: float = 20
    live_retry_ms: int = 3000
    # While live updates cannot cross processes (Redis configured but unreachable), open pages ask
    # for what changed this often instead.
    live_poll_seconds: float = 30
    # Under a stream of changes, open pages are written to at most this often (the first change
    # after a quiet spell goes out at once): each write then carries everything new.
    live_flush_seconds: float = Field(default=1.0, ge=0, le=10)
    # Discourse's message bus (`/message-bus/{client_id}/poll`): a long poll with nothing to tell is
    # held this long, then answered `[]`, and the client asks again.
    message_bus_long_poll_seconds: float = Field(default=25, gt=0, le=600)
    # Logs and metrics (forum/observability.py). log_format: "auto" (text in a terminal, else JSON),
    # "json" or "text". /metrics answers these addresses (comma-separated, CIDR allowed) or the token.
    log_format: Literal["auto", "json", "text"] = "auto"
    request_log: bool = True
    metrics_allow: str = "127.0.0.1,::1"
    metrics_token: str | None = None
    site_title: str = "Co-operative Federation Forum"
    site_description: str = "Discussions of the federation and its members"
    default_locale: str = "en"
    # Languages offered, comma-separated codes (empty: every installed catalog); admins can change it.
    locales: str = ""
    # Pages anonymous visitors read are cached per process for this long (0 turns the cache off);
    # any committed change drops them at once (forum/pagecache.py).
    anon_cache_seconds: float = 30
    anon_cache_entries: int = 1000
    anon_cache_megabytes: float = 32
    # A signed-in reader's own pages (the same addresses) are kept per process and session for this
    # long (0 turns it off); any committed change, and the reader's own bookkeeping (read positions,
    # drafts), drops them at once (forum/pagecache.py).
    reader_cache_seconds: float = 30
    reader_cache_entries: int = 2000
    reader_cache_megabytes: float = 16
    # Threads per process for the blocking part of requests (queries, templates). Python runs one
    # at a time, so more only adds switching; 0 picks 4 on SQLite and 8 on PostgreSQL, whose
    # queries wait on the network.
    threads: int = Field(default=0, ge=0, le=256)

    # New accounts start at this tier.
    default_tier: Tier = "participant"

    # Content limits (characters).
    min_title_length: int = 5
    max_title_length: int = 255
    min_post_length: int = 2
    max_post_length: int = 32000
    posts_per_page: int = 20
    topics_per_page: int = 30
    # Tags: how many one topic may carry (FORUM_MAX_TAGS_PER_TOPIC), and whether staff may bring a new
    # tag into being by naming it on a topic (Discourse's `min_trust_to_create_tag`; members never may).
    max_tags_per_topic: int = Field(default=5, ge=0, le=50)
    staff_create_tags_when_tagging: bool = True

    # Rate limits. Windows are in seconds; a limit of 0 switches the check off.
    login_attempts_per_ip: int = 20
    login_attempts_per_account: int = 6
    login_window: int = 300
    posts_per_minute: int = 10
    previews_per_minute: int = 120
    topics_per_hour: int = 20
    signups_per_ip_per_hour: int = 20
    # Private messages: people and groups in one new message, and new conversations per hour that an
    # account younger than `new_account_days` may start (0 switches the limit off).
    max_message_recipients: int = 20
    new_account_messages_per_hour: int = 5
    new_account_days: int = 7
    # Seconds during which a person cannot post the same text again (case and spacing ignored), as
    # Discourse's duplicate-post check; 0 switches it off. Staff are exempt.
    unique_post_window: int = 120
    # Wrong feed tokens one address may present per window before it gets 429s.
    feed_token_failures_per_ip: int = 20
    feed_token_failure_window: int = 600

    # Email. smtp_security: "none", "starttls" or "ssl".
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_security: Literal["none", "starttls", "ssl"] = "none"
    # A CA bundle (PEM) to verify the SMTP server's certificate, for a mail server with a private CA;
    # unset, the system's trusted certificates are used. Certificates are always verified.
    smtp_ca_file: str | None = None
    smtp_timeout: float = 30
    mail_from: str = "Forum <forum@localhost>"
    # Run background jobs (the outbox) inside each serving process; switch off when `forum worker` runs.
    inprocess_worker: bool = True
    outbox_poll_seconds: float = 5
    outbox_max_attempts: int = 8
    # A worker holds an item it is running for this long; if the worker dies, another one takes the
    # item over once the lease runs out. Keep it well above the longest send (see smtp_timeout).
    outbox_lease_seconds: float = Field(default=300, gt=0)
    # How often the worker looks for digests that have come due: a digest goes out at most this long
    # after its hour.
    digest_check_seconds: float = Field(default=60, gt=0)
    # Finished outbox items are deleted after this many days (failed ones are kept for inspection).
    outbox_keep_days: int = 30

    # Polls, proposals and events. Poll options with votes can be changed only this soon after posting.
    poll_edit_grace_minutes: int = 5
    # Hours before a proposal closes that non-responders are reminded; before an event, those going.
    proposal_reminder_hours: float = 24
    event_reminder_hours: float = 24

    # Files attached to posts (forum/uploads.py). The directory defaults to `uploads` beside the
    # SQLite file (or the working directory); several hosts share it (e.g. over NFS). The size and
    # the kinds are ceilings: admins choose within them (forum/policy.py), and the daily quota.
    uploads_dir: str = ""
    # An S3-compatible bucket instead of the directory (credentials: the usual AWS_* variables).
    uploads_s3_bucket: str = ""
    uploads_s3_endpoint_url: str = ""
    uploads_s3_region: str = ""
    uploads_s3_prefix: str = ""
    max_upload_bytes: int = 10 * 1024 * 1024
    upload_extensions: str = "jpg,jpeg,png,gif,webp,avif,heic,heif,pdf,odt,ods,odp,docx,xlsx,pptx,csv,txt"
    max_image_pixels: int = 40_000_000
    max_image_frames: int = 300
    optimized_image_width: int = 1000

    # Backups (forum/backup.py): where `forum backup` writes by default (`backups` beside the SQLite
    # file, or in the working directory), and scheduled backups by the worker: every N hours (0: off),
    # keeping the newest N of them.
    backup_dir: str = ""
    backup_every_hours: float = Field(default=0, ge=0)
    backup_keep: int = Field(default=7, ge=1)

    # Seconds an idle session stays valid.
    session_max_age: int = 60 * 60 * 24 * 60
    # SQLite busy timeout in milliseconds; past it a write answers 503.
    sqlite_busy_timeout_ms: int = 15000
    # Megabytes SQLite may hold in each process, over all its connections, before it reuses the
    # pages it has cached instead of growing (0: no bound). Each pooled connection otherwise keeps
    # its own page cache of up to 2 MB.
    sqlite_memory_mb: float = Field(default=8, ge=0)
    secure_cookies: bool | None = Field(default=None, description="Defaults to True when base_url is https")

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def uploads_path(self) -> Path:
        if self.uploads_dir:
            return Path(self.uploads_dir)
        if self.is_sqlite:
            url = make_url(self.database_url)
            if url.database and url.database != ":memory:":
                return Path(url.database).resolve().parent / "uploads"
        return Path("uploads").resolve()

    @property
    def backup_path(self) -> Path:
        if self.backup_dir:
            return Path(self.backup_dir)
        if self.is_sqlite:
            url = make_url(self.database_url)
            if url.database and url.database != ":memory:":
                return Path(url.database).resolve().parent / "backups"
        return Path("backups").resolve()

    @property
    def allowed_extensions(self) -> set[str]:
        return {e.strip().lower().lstrip(".") for e in self.upload_extensions.split(",") if e.strip()}

    @property
    def cookies_secure(self) -> bool:
        if self.secure_cookies is not None:
            return self.secure_cookies
        return self.base_url.startswith("https://")


@lru_cache
def get_settings() -> Settings:
    return Settings()
