"""Settings, validated at start-up. Environment variables use the ``CIVOP_`` prefix, except
``DATABASE_URL`` and ``READ_DATABASE_URL`` which keep their conventional names."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from geo.validation import SizeLimits
from service.enums import ActorCategory, IncidentCategory

PolicyAction = Literal["hide", "generalise"]
PolicyLevel = Literal["public", "mission", "restricted"]
#: Collections whose records have a category, and the enumeration of its values.
CATEGORIES = {"incidents": IncidentCategory, "actors": ActorCategory}
#: OWASP's least Argon2id memory (KiB) for a number of passes (Password Storage Cheat Sheet):
#: 46 MiB with one pass, 19 MiB with two, 12 MiB with three, 9 MiB with four, 7 MiB with five
#: or more.
MIN_PASSWORD_HASH_MEMORY_KIB = {1: 47_104, 2: 19_456, 3: 12_288, 4: 9_216, 5: 7_168}


def to_asyncpg_url(url: str) -> str:
    """Accept ``postgresql://`` URLs as people write them and select the asyncpg driver."""
    for prefix in (
        "postgresql+asyncpg://",
        "postgresql+psycopg://",
        "postgresql://",
        "postgres://",
    ):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    raise ValueError("DATABASE_URL must start with postgresql://")


class Settings(BaseSettings):
    # A refused value is not repeated in the error: it may be a secret or hold a password.
    model_config = SettingsConfigDict(
        env_prefix="CIVOP_", extra="ignore", hide_input_in_errors=True
    )

    database_url: str = Field(
        "postgresql://civop@127.0.0.1:55432/civop",
        validation_alias=AliasChoices("DATABASE_URL", "CIVOP_DATABASE_URL"),
    )
    #: Streaming replicas for map, tile and analysis reads: one URL or several, comma-separated.
    read_database_url: str = Field(
        "", validation_alias=AliasChoices("READ_DATABASE_URL", "CIVOP_READ_DATABASE_URL")
    )
    #: After a user writes, their reads go to the primary for this long (replicas lag a little).
    read_your_writes_s: float = Field(10.0, ge=0, le=3600)
    #: A replica that failed is left alone this long before it is tried again.
    replica_retry_s: float = Field(5.0, ge=0.1, le=600)
    db_pool_size: int = Field(10, ge=1, le=200)
    db_max_overflow: int = Field(10, ge=0, le=200)
    db_connect_timeout_s: float = Field(3.0, gt=0)
    #: How long a request may wait for a pooled connection while all are busy: under load
    #: requests queue for this long instead of failing (an outage fails at connect, at once).
    db_pool_timeout_s: float = Field(30.0, gt=0)
    db_statement_timeout_ms: int = Field(30_000, ge=100)

    demo: bool = False
    secret_key: SecretStr | None = None
    #: Argon2id parameters of new password hashes: memory (KiB), passes, lanes. The default is
    #: RFC 9106's second recommendation; lighter ones may be no weaker than OWASP's minimum
    #: for their passes (MIN_PASSWORD_HASH_MEMORY_KIB, e.g. 19,456 KiB with 2). A stored hash
    #: keeps the parameters it was made with until its user next signs in.
    password_hash_memory_kib: int = Field(65_536, ge=7_168, le=4_194_304)
    password_hash_passes: int = Field(3, ge=1, le=64)
    password_hash_lanes: int = Field(4, ge=1, le=64)
    token_ttl_minutes: int = Field(480, ge=1, le=7 * 24 * 60)
    #: How long a process may reuse who a token or key belongs to; any change to users, keys
    #: or sectors empties it at once (PostgreSQL notifications), so this is only a backstop.
    auth_cache_s: float = Field(30.0, ge=0, le=3600)
    #: Failed logins of one account from one client address before each further attempt from
    #: there waits: ``login_backoff_s``, doubling with each failure up to ``login_backoff_max_s``.
    login_max_failures: int = Field(5, ge=1)
    #: Failed logins of one account from every address together before the back-off applies to
    #: it from addresses where it has not logged in before.
    login_account_max_failures: int = Field(10, ge=1)
    #: Failed logins of every account from one address before the back-off applies there to
    #: accounts that have not logged in from it before (one NAT address serves many people).
    login_address_max_failures: int = Field(100, ge=1)
    login_backoff_s: float = Field(30.0, gt=0, le=3600)
    login_backoff_max_s: float = Field(900.0, gt=0, le=86_400)
    #: Failures are forgotten this long after the last one.
    login_window_s: int = Field(3600, ge=1)
    #: An address where an account logged in is known to it this long.
    login_known_address_days: float = Field(30.0, ge=0, le=3650)
    #: Dates that record what happened (an incident's time, a population count) may be at
    #: most this far ahead of the server's clock (devices' clocks drift); plans may be later.
    future_tolerance_minutes: float = Field(10.0, ge=0, le=24 * 60)
    #: Role given to requests without credentials; ``None`` means they are refused.
    anonymous_role: Literal["partner"] | None = None

    #: Size of the coarse cell that generalised locations are snapped to.
    generalise_cell_km: float = Field(10.0, gt=0, le=500)
    #: Per-collection overrides of the access policy: ``{"incidents": {"mission": "generalise"}}``.
    policies: dict[str, dict[str, PolicyAction]] = Field(default_factory=dict)

    #: Least classification per category, over the defaults of ``service.access.policy``
    #: (``sexual_violence`` incidents are ``restricted``):
    #: ``{"incidents": {"abduction": "restricted"}, "actors": {"armed_group": "mission"}}``.
    category_floors: dict[str, dict[str, PolicyLevel]] = Field(default_factory=dict)

    #: Mission area (lon_min, lat_min, lon_max, lat_max): used to spot swapped coordinates.
    mission_bbox: tuple[float, float, float, float] = (22.0, 2.0, 30.0, 10.0)
    #: The mission's time zone (IANA name): pages, reports and alerts show local time in it,
    #: "last 7 days" and report periods are its days. Storage stays UTC.
    time_zone: str = "UTC"

    #: Largest geometry accepted on any way in (API, OGC API, imports, analysis requests):
    #: vertices (every position, closing ones included), parts of a multi geometry, holes.
    #: A camp outline traced on imagery has hundreds of vertices, a 12-hour GPS patrol track
    #: at one fix every second some 43,000; a multi-part site or project rarely has more
    #: than a few dozen parts.
    geometry_max_vertices: int = Field(50_000, ge=100, le=10_000_000)
    geometry_max_parts: int = Field(1_000, ge=1, le=1_000_000)
    geometry_max_holes: int = Field(1_000, ge=0, le=1_000_000)
    #: Sectors (areas of responsibility, loaded by GIS staff) follow rivers and borders and may
    #: hold many islands: a detailed administrative boundary has up to some 100,000 vertices.
    sector_max_vertices: int = Field(250_000, ge=100, le=10_000_000)
    sector_max_parts: int = Field(10_000, ge=1, le=1_000_000)
    sector_max_holes: int = Field(10_000, ge=0, le=1_000_000)

    #: Most features in one vector tile; the rest of a dense tile is left out.
    tile_max_features: int = Field(20_000, ge=1, le=500_000)
    #: Memory for recently built tiles, per process; 0 turns the cache off.
    tile_cache_mb: int = Field(256, ge=0, le=65_536)

    page_default: int = Field(100, ge=1)
    page_max: int = Field(1000, ge=1)

    #: Largest request body in MiB (uploads to /api/imports have ``import_max_upload_mb``).
    max_body_mb: int = Field(16, ge=1, le=4096)
    #: Origins (``https://host[:port]``) whose web pages may call the API from a browser (CORS).
    cors_origins: list[str] = Field(default_factory=list)
    #: Let those origins send cookies and HTTP authentication; never together with ``*``.
    cors_allow_credentials: bool = False
    #: Clients reach the service over HTTPS (itself or a TLS proxy in front): browsers are told
    #: to use HTTPS only (Strict-Transport-Security).
    behind_tls: bool = False

    #: Basemap of the map page: an XYZ tile URL template (``.../{z}/{x}/{y}.png``). Empty: a
    #: plain background with the sector outlines, and no request leaves the service.
    basemap_url: str = ""
    #: Basemap served by civop itself from an MBTiles or PMTiles file (raster png/jpg/webp or
    #: vector pbf tiles), used instead of ``basemap_url``. Empty: ``$CIVOP_HOME/basemap.mbtiles``
    #: (or ``.pmtiles``) when there is one (``civop basemap register`` puts a file there).
    basemap_file: str = ""
    #: The service's own folder (``.civop`` of the checkout by default, see scripts/env.sh).
    home: str = ""

    #: Imports (``service.imports``): the largest upload accepted, in MiB.
    import_max_upload_mb: int = Field(512, ge=1)
    #: At most this many files in an uploaded zip (a zipped shapefile has 4 to 6).
    import_max_zip_members: int = Field(100, ge=1)
    #: A zip may expand to at most this many MiB; beyond, it is refused as a zip bomb.
    import_max_uncompressed_mb: int = Field(2048, ge=1)
    #: A zip member expanding more than this many times its packed size is refused.
    import_max_compression_ratio: float = Field(100.0, ge=2)
    #: Records read, checked and staged at a time (memory grows with this, not with the file).
    import_batch_rows: int = Field(65_536, ge=100, le=1_000_000)
    #: Problems listed per import (all are counted).
    import_max_problems: int = Field(1000, ge=1)
    #: Features farther than this from the mission area are refused (wrong CRS, swapped axes).
    import_outside_km: float = Field(500.0, gt=0)
    #: Longest time one import may run in the database.
    import_timeout_s: int = Field(3600, ge=10)
    #: Where uploads wait while their job runs; the system temp folder when unset.
    import_dir: str | None = None
    #: An import of at least this many records, and at least half as many as the collection
    #: holds, is a bulk load: the collection's secondary indexes and foreign keys are dropped and
    #: built again in the import's transaction (0 turns bulk loads off).
    import_bulk_rows: int = Field(100_000, ge=0)
    #: How long a bulk load waits for the collection's exclusive lock before it loads the
    #: ordinary way instead (readers queue behind a waiting lock, so keep this short).
    import_bulk_lock_timeout_s: float = Field(2.0, gt=0, le=60)
    #: The most memory (MB) one operation of a bulk load may use (work_mem, for its own
    #: transaction). The statement triggers read the new records from a transition table of
    #: about twice the staging table's size (500 MB for a million points), written to
    #: temporary files beyond work_mem; a bulk load asks for that much, at least 256 MB and at
    #: most this.
    import_bulk_work_mem_mb: int = Field(1024, ge=64, le=65_536)

    #: Early warning (``service.alerts``): rules are also evaluated this often, in seconds,
    #: besides on every committed change.
    alerts_interval_s: float = Field(30.0, gt=0, le=86_400)
    #: Time-based rules (risk threshold, hot spots) and the pruning of the event log run this
    #: often, in seconds, and a few seconds after the data they read changes.
    alerts_schedule_s: float = Field(300.0, gt=0, le=86_400)
    #: The point groups low-zoom tiles are read from are counted again at most this often, in
    #: seconds, a few seconds after a change (a count of a million incidents takes about 4 s of
    #: a worker); in between, low-zoom tiles are counted from the table.
    point_groups_interval_s: float = Field(30.0, ge=0, le=86_400)
    #: An ``Idempotency-Key`` and the answer it got are kept this many hours: a retry with
    #: the key within that time gets the first answer again.
    idempotency_key_hours: float = Field(24.0, gt=0, le=8760)
    #: Events (what the live stream resumes from) are kept this many hours, then pruned.
    events_retention_hours: float = Field(72.0, gt=0, le=8760)
    #: URLs every new alert is POSTed to (JSON list), through the outbox, with retries.
    alert_webhook_urls: list[str] = Field(default_factory=list)
    #: Webhook receivers get what a user of this role sees (alerts it may not see are not sent).
    alert_webhook_role: Literal["partner", "analyst", "officer", "admin"] = "partner"
    #: First retry after this many seconds, doubling up to ``alert_webhook_backoff_max_s``.
    alert_webhook_backoff_s: float = Field(1.0, gt=0, le=3600)
    alert_webhook_backoff_max_s: float = Field(300.0, gt=0, le=86_400)
    #: How often the outbox is checked for due deliveries, and the timeout of one delivery.
    alert_webhook_poll_s: float = Field(1.0, gt=0, le=3600)
    alert_webhook_timeout_s: float = Field(5.0, gt=0, le=120)
    #: The CAP ``sender`` of alerts shared as CAP 1.2.
    alert_cap_sender: str = "civop@mission.un.example"
    #: The languages the mission publishes alerts in: a CAP message carries one ``<info>``
    #: block per language (CIVOP_ALERT_LANGUAGES, a JSON list, e.g. ``["en", "fr"]``).
    alert_languages: list[str] = Field(default_factory=lambda: ["en"], min_length=1)

    #: Jobs (``service.jobs``): heavy work runs in worker processes, never in the API process.
    #: Worker processes ``civop serve`` starts beside the API (0: run ``civop worker`` apart).
    jobs_workers: int = Field(1, ge=0, le=64)
    #: Jobs one worker process runs at the same time (each in a child process of its own).
    jobs_concurrency: int = Field(2, ge=1, le=64)
    #: Queued and running jobs one user may have at once; beyond, 429 with ``Retry-After``.
    jobs_per_user: int = Field(3, ge=1, le=1000)
    #: Queued and running jobs of everyone together; beyond, 429 with ``Retry-After``.
    jobs_max_queued: int = Field(100, ge=1, le=100_000)
    #: Longest run of one job, per kind, in seconds (``{"export": 1800}``); the child process
    #: running it is killed at the limit. Kinds not named get ``jobs_time_limit_s``. Setting
    #: it replaces the whole table.
    jobs_time_limits: dict[str, float] = Field(
        default_factory=lambda: {
            "report": 900.0,
            "exposure": 600.0,
            "emerging_hotspots": 600.0,
            "risk": 600.0,
            "hotspots": 600.0,
            "alerts_scheduled": 600.0,
            "point_groups": 600.0,
        }
    )
    jobs_time_limit_s: float = Field(3600.0, gt=0, le=7 * 86_400)
    #: Address space of the child process running a job, in MiB (``RLIMIT_AS``; 0: no limit).
    jobs_memory_mb: int = Field(8192, ge=0)
    #: Scheduling priority (``nice``) of the processes running jobs: they get the CPU the API
    #: leaves, so requests do not wait behind them.
    jobs_nice: int = Field(10, ge=0, le=19)
    #: Finished jobs' files (exports, reports, import reports) are removed after this long.
    jobs_result_hours: float = Field(24.0, gt=0, le=8760)
    #: Where results are written; shared by the API and the workers (a volume under Docker).
    #: A ``civop-jobs`` folder in the system temp folder when unset.
    jobs_dir: str | None = None
    #: A running job whose worker has not reported for this long is marked failed.
    jobs_stale_s: float = Field(30.0, ge=2, le=3600)
    #: Exports of at most this many records answer at once; larger ones become jobs.
    jobs_export_inline_rows: int = Field(10_000, ge=0)
    #: Uploads of at most this many MiB may be imported or previewed while the request waits
    #: (``wait=true``, ``dry_run``); larger ones become jobs. Imports without ``wait`` always do.
    jobs_import_inline_mb: float = Field(4.0, ge=0)
    #: Rollbacks of imports that wrote at most this many records answer at once.
    jobs_rollback_inline_rows: int = Field(10_000, ge=0)
    #: Exposure analyses over at most this many IDP sites answer at once.
    jobs_exposure_inline_sites: int = Field(500, ge=0)
    #: Emerging hot-spot analyses over at most this many cell-steps (cells x time steps)
    #: answer at once; larger ones (a force area over ten steps) become jobs.
    jobs_emerging_inline_cells: int = Field(50_000, ge=0)
    #: Risk overlays and hot-spot analyses over at most this many grid cells answer at once;
    #: larger ones (the whole mission at town scale) become jobs: drawing and serialising
    #: each cell's hexagon is the work that grows with the area.
    jobs_analysis_inline_cells: int = Field(50_000, ge=0)

    @field_validator("time_zone")
    @classmethod
    def _known_time_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"CIVOP_TIME_ZONE {value!r} is not a time zone name (e.g. Africa/Bangui)"
            ) from exc
        return value

    @field_validator("database_url")
    @classmethod
    def _driver(cls, value: str) -> str:
        return to_asyncpg_url(value)

    @field_validator("read_database_url")
    @classmethod
    def _read_drivers(cls, value: str) -> str:
        return ",".join(to_asyncpg_url(url.strip()) for url in value.split(",") if url.strip())

    def size_limits(self, collection: str) -> SizeLimits:
        """The most vertices, parts and holes one geometry of ``collection`` may have."""
        if collection == "sectors":
            return SizeLimits(
                self.sector_max_vertices, self.sector_max_parts, self.sector_max_holes
            )
        return SizeLimits(
            self.geometry_max_vertices, self.geometry_max_parts, self.geometry_max_holes
        )

    @property
    def read_urls(self) -> list[str]:
        return [url for url in self.read_database_url.split(",") if url]

    @field_validator("category_floors")
    @classmethod
    def _known_categories(
        cls, value: dict[str, dict[str, PolicyLevel]]
    ) -> dict[str, dict[str, PolicyLevel]]:
        # A misspelt category would protect nothing, silently: refuse it at start-up.
        for collection, floors in value.items():
            categories = CATEGORIES.get(collection)
            if categories is None:
                raise ValueError(
                    f"CIVOP_CATEGORY_FLOORS: {collection!r} has no categories; "
                    f"use one of {', '.join(CATEGORIES)}"
                )
            unknown = sorted(set(floors) - {c.value for c in categories})
            if unknown:
                raise ValueError(
                    f"CIVOP_CATEGORY_FLOORS: {collection} has no category {', '.join(unknown)}; "
                    f"its categories are {', '.join(c.value for c in categories)}"
                )
        return value

    @model_validator(mode="after")
    def _password_hash_cost(self) -> Settings:
        passes = self.password_hash_passes
        least = MIN_PASSWORD_HASH_MEMORY_KIB[min(passes, 5)]
        if self.password_hash_memory_kib < least:
            raise ValueError(
                f"CIVOP_PASSWORD_HASH_MEMORY_KIB must be at least {least:,} with "
                f"CIVOP_PASSWORD_HASH_PASSES={passes} (OWASP's minimum for Argon2id), "
                f"not {self.password_hash_memory_kib:,}"
            )
        return self

    @field_validator("secret_key")
    @classmethod
    def _long_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("CIVOP_SECRET_KEY must be at least 32 characters long")
        return value

    def check_serving(self) -> None:
        """Refuse to serve without a signing secret (except in the demo), or with CORS open to
        every origin together with credentials."""
        if self.secret_key is None and not self.demo:
            raise RuntimeError(
                "CIVOP_SECRET_KEY must be set (at least 32 random characters) unless CIVOP_DEMO=1"
            )
        if "*" in self.cors_origins and self.cors_allow_credentials:
            raise RuntimeError(
                "CIVOP_CORS_ORIGINS must list the origins when CIVOP_CORS_ALLOW_CREDENTIALS=1: "
                "'*' with credentials would let any web page act as the signed-in user"
            )

    def signing_key(self) -> str:
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        return _demo_process_key()


@lru_cache
def _demo_process_key() -> str:
    import secrets

    return secrets.token_urlsafe(48)


@lru_cache
def get_settings() -> Settings:
    return Settings()
