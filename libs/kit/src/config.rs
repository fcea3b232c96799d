//! Layered configuration: built-in defaults, then an optional TOML file (`ANJU_CONFIG`),
//! then environment variables (`ANJU_…`, plus the conventional `DATABASE_URL`, `NATS_URL`
//! and `OTEL_EXPORTER_OTLP_ENDPOINT`). Validated once at start-up; secrets never printed.

use std::{fmt, net::IpAddr, path::PathBuf, time::Duration};

use anyhow::{Context, bail};
use serde::Deserialize;

/// The development signing key. Production refuses to start with it.
pub const DEV_HS256_SECRET: &str = "anju-development-signing-key-not-for-production";

/// The development identity-hash key. Production refuses to start with it.
pub const DEV_PII_HMAC_KEY: &str = "anju-development-identity-hash-key-not-for-production";

/// The development encryption key (id `dev`). Production refuses to start with it.
pub const DEV_PII_ENCRYPTION_KEY: &str =
    "616e6a752d646576656c6f706d656e742d6b65792d6e6f742d666f722d70726f";

/// Every anju service, in the order of their default gRPC ports.
pub const SERVICES: [&str; 7] = [
    "sales",
    "finance",
    "handover",
    "maintenance",
    "complaints",
    "title",
    "saga",
];

/// A string that never shows itself in logs or debug output.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    Development,
    Production,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub environment: Environment,
    pub database: DatabaseSettings,
    pub nats: NatsSettings,
    pub grpc: GrpcSettings,
    pub auth: AuthSettings,
    pub telemetry: TelemetrySettings,
    pub retention: RetentionSettings,
    pub pii: PiiSettings,
}

/// How long each service keeps what it stores only for a while (see `anju_messaging::retention`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionSettings {
    /// Stored answers of request ids: a repeat after this is a new call.
    pub idempotency_days: u32,
    /// Published outbox rows: the window `anju outbox replay` can re-publish.
    pub outbox_days: u32,
    /// Events a consumer has seen: at least `outbox_days`, so a replay is recognised.
    pub inbox_days: u32,
    /// The coordinator's commands: a done command's payload is emptied after this.
    pub saga_command_days: u32,
    pub sweep_interval_seconds: u64,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        Self {
            idempotency_days: 7,
            outbox_days: 7,
            inbox_days: 14,
            saga_command_days: 30,
            sweep_interval_seconds: 600,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSettings {
    /// URL of the Postgres server; each service uses its own database `anju_<service>` on it.
    pub url: Secret,
    /// Prefix of the per-service database names (tests use a unique one).
    pub name_prefix: String,
    /// The pool of one service (its process hosting it alone, as Kubernetes runs it).
    pub max_connections: u32,
    /// The connections one process hosting several services (`--target all`, the test stack)
    /// holds in all: each service's pool gets an equal share, at most `max_connections`.
    pub process_budget: u32,
    pub acquire_timeout_ms: u64,
    /// The longest a statement waits for a row lock (a concurrent call with the same request
    /// id, say) before the call is refused as ABORTED and gives its connection back: a pile
    /// of waiting duplicates cannot hold the pool.
    pub lock_timeout_ms: u64,
    /// What a starting service does with its database: `apply` creates it and applies the
    /// release's migrations (one process, `make run`, the tests); `verify` only checks that
    /// `anju migrate` did (Kubernetes: the service's role creates nothing, and replicas
    /// starting together wait on no migration lock).
    pub migrate: MigrateMode,
}

/// How a starting service treats its database's migrations ([`DatabaseSettings::migrate`]).
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum MigrateMode {
    #[default]
    Apply,
    Verify,
}

impl std::str::FromStr for MigrateMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "apply" => Ok(Self::Apply),
            "verify" => Ok(Self::Verify),
            other => Err(format!("expected apply or verify, not {other:?}")),
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NatsSettings {
    pub url: String,
    /// First token of every subject and stream name; tests use a unique one.
    pub prefix: String,
    /// Delivery attempts before a message goes to the dead-letter subject.
    pub max_deliver: i64,
    /// Stream replicas: 1 locally, 3 in production so an ack means a quorum holds it.
    pub replicas: usize,
    /// The largest event a service writes to its outbox; a call that would write a larger one
    /// is refused (INVALID_ARGUMENT). Keep it well under the server's `max_payload` (1 MiB).
    pub max_event_bytes: usize,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GrpcSettings {
    /// The address the services bind (and are reached at when no endpoint names them): an IP
    /// address or a host name, resolved when binding (`0.0.0.0` in a pod, `localhost` here).
    pub host: String,
    /// Port of `sales`; the others follow in [`SERVICES`] order. 0 binds every service to a free port.
    pub base_port: u16,
    pub max_message_bytes: usize,
    pub request_timeout_ms: u64,
    pub shutdown_grace_ms: u64,
    /// Where other services answer (`http://finance:50052`), by service name; services not
    /// named here are reached at `host` and their default port.
    pub endpoints: std::collections::BTreeMap<String, String>,
    /// Calls one service handles at once; beyond, UNAVAILABLE with a retry delay.
    pub max_in_flight: u32,
    /// Calls per second one tenant may make to one service (0: no limit), after a burst of
    /// `tenant_burst`; beyond, RESOURCE_EXHAUSTED with the delay until the next is allowed.
    pub tenant_rate_per_second: u32,
    pub tenant_burst: u32,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSettings {
    /// HS256 key for development tokens (at least 32 bytes; refused in production). When no
    /// staff key is configured in development, the development key is used.
    pub hs256_secret: Option<Secret>,
    /// PEM file with an RS256 public key.
    pub rs256_public_key_file: Option<PathBuf>,
    /// JWKS document (file path or https URL) with RS256 keys, re-read every
    /// `jwks_refresh_seconds` and when a token names an unknown key.
    pub jwks: Option<String>,
    pub jwks_refresh_seconds: u64,
    /// Required in staff tokens when set (and required to be set in production).
    pub issuer: Option<String>,
    pub audience: Option<String>,
    /// Tokens living longer than this (from now, or from `iat`) are refused.
    pub max_token_lifetime_seconds: u64,
    /// The coordinator's Ed25519 public key (PEM): every service verifies its calls with it.
    /// Unset: the development key pair (refused in production).
    pub internal_public_key_file: Option<PathBuf>,
    /// The coordinator's Ed25519 private key (PEM): only the saga service reads it.
    pub internal_private_key_file: Option<PathBuf>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetrySettings {
    pub log_format: LogFormat,
    /// OTLP/gRPC collector endpoint; traces are exported only when set.
    pub otlp_endpoint: Option<String>,
    /// Where a process serves its services' Prometheus metrics (`GET /metrics`), e.g.
    /// `0.0.0.0:9464`; off when unset. Port 0 takes any free port.
    pub metrics_address: Option<String>,
    /// A client span (`db.*`) for every SQL statement, under the call or event that ran it.
    /// Off by default: several statements a call, each a span, cost more than the call's own.
    pub trace_statements: bool,
}

/// Keys protecting personal data (PIPL art. 51: encryption and de-identification).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PiiSettings {
    /// Key of the HMAC-SHA256 identity numbers are compared and looked up by (at least 32
    /// bytes). Every service comparing identities (sales, handover) must hold the same one.
    pub hmac_key: Secret,
    /// AES-256-GCM keys by key id, 64 hex digits each: the active key seals, any of them
    /// opens, so a retired key stays listed until what it sealed is sealed again.
    pub encryption_keys: std::collections::BTreeMap<String, Secret>,
    pub active_key_id: String,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            environment: Environment::Development,
            database: DatabaseSettings::default(),
            nats: NatsSettings::default(),
            grpc: GrpcSettings::default(),
            auth: AuthSettings::default(),
            telemetry: TelemetrySettings::default(),
            retention: RetentionSettings::default(),
            pii: PiiSettings::default(),
        }
    }
}

impl Default for PiiSettings {
    fn default() -> Self {
        Self {
            hmac_key: Secret::new(DEV_PII_HMAC_KEY),
            encryption_keys: [("dev".to_string(), Secret::new(DEV_PII_ENCRYPTION_KEY))].into(),
            active_key_id: "dev".into(),
        }
    }
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: Secret::new("postgres://postgres@127.0.0.1:5432/postgres"),
            name_prefix: "anju".into(),
            max_connections: 16,
            process_budget: 28,
            acquire_timeout_ms: 5_000,
            lock_timeout_ms: 3_000,
            migrate: MigrateMode::Apply,
        }
    }
}

impl Default for NatsSettings {
    fn default() -> Self {
        Self {
            url: "nats://127.0.0.1:4222".into(),
            prefix: "anju".into(),
            max_deliver: 5,
            replicas: 1,
            max_event_bytes: 512 * 1024,
        }
    }
}

impl Default for GrpcSettings {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            base_port: 50051,
            max_message_bytes: 4 * 1024 * 1024,
            request_timeout_ms: 10_000,
            shutdown_grace_ms: 10_000,
            endpoints: Default::default(),
            max_in_flight: 1_024,
            tenant_rate_per_second: 5_000,
            tenant_burst: 10_000,
        }
    }
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            hs256_secret: None,
            rs256_public_key_file: None,
            jwks: None,
            jwks_refresh_seconds: 300,
            issuer: None,
            audience: None,
            max_token_lifetime_seconds: 24 * 3600,
            internal_public_key_file: None,
            internal_private_key_file: None,
        }
    }
}

impl Default for TelemetrySettings {
    fn default() -> Self {
        Self {
            log_format: LogFormat::Pretty,
            otlp_endpoint: None,
            metrics_address: None,
            trace_statements: false,
        }
    }
}

impl Settings {
    /// Loads defaults, then the file named by `ANJU_CONFIG` (if any), then the environment.
    pub fn load() -> anyhow::Result<Self> {
        let mut settings = match std::env::var_os("ANJU_CONFIG") {
            Some(path) => Self::from_file(&PathBuf::from(path))?,
            None => Self::default(),
        };
        settings.apply_env(|key| std::env::var(key).ok())?;
        settings.apply_development_key();
        settings.validate()?;
        Ok(settings)
    }

    pub fn from_file(path: &std::path::Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading config file {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("parsing config file {}", path.display()))
    }

    /// Applies environment overrides read through `get`, so tests can pass a map.
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> anyhow::Result<()> {
        let first = |keys: &[&str]| {
            keys.iter()
                .find_map(|key| get(key).filter(|v| !v.is_empty()))
        };
        if let Some(v) = first(&["ANJU_ENVIRONMENT"]) {
            self.environment = match v.as_str() {
                "development" => Environment::Development,
                "production" => Environment::Production,
                other => {
                    bail!("ANJU_ENVIRONMENT: expected development or production, got {other:?}")
                }
            };
        }
        if let Some(v) = first(&["ANJU_DATABASE_URL", "DATABASE_URL"]) {
            self.database.url = Secret::new(v);
        }
        if let Some(v) = first(&["ANJU_DATABASE_NAME_PREFIX"]) {
            self.database.name_prefix = v;
        }
        if let Some(v) = first(&["ANJU_DATABASE_MAX_CONNECTIONS"]) {
            self.database.max_connections = parse("ANJU_DATABASE_MAX_CONNECTIONS", &v)?;
        }
        if let Some(v) = first(&["ANJU_DATABASE_PROCESS_BUDGET"]) {
            self.database.process_budget = parse("ANJU_DATABASE_PROCESS_BUDGET", &v)?;
        }
        if let Some(v) = first(&["ANJU_DATABASE_LOCK_TIMEOUT_MS"]) {
            self.database.lock_timeout_ms = parse("ANJU_DATABASE_LOCK_TIMEOUT_MS", &v)?;
        }
        if let Some(v) = first(&["ANJU_DATABASE_MIGRATE"]) {
            self.database.migrate = parse("ANJU_DATABASE_MIGRATE", &v)?;
        }
        if let Some(v) = first(&["ANJU_NATS_URL", "NATS_URL"]) {
            self.nats.url = v;
        }
        if let Some(v) = first(&["ANJU_NATS_PREFIX"]) {
            self.nats.prefix = v;
        }
        if let Some(v) = first(&["ANJU_NATS_MAX_DELIVER"]) {
            self.nats.max_deliver = parse("ANJU_NATS_MAX_DELIVER", &v)?;
        }
        if let Some(v) = first(&["ANJU_NATS_MAX_EVENT_BYTES"]) {
            self.nats.max_event_bytes = parse("ANJU_NATS_MAX_EVENT_BYTES", &v)?;
        }
        if let Some(v) = first(&["ANJU_NATS_REPLICAS"]) {
            self.nats.replicas = parse("ANJU_NATS_REPLICAS", &v)?;
        }
        if let Some(v) = first(&["ANJU_GRPC_HOST"]) {
            self.grpc.host = v.trim().to_string();
        }
        if let Some(v) = first(&["ANJU_GRPC_BASE_PORT"]) {
            self.grpc.base_port = parse("ANJU_GRPC_BASE_PORT", &v)?;
        }
        if let Some(v) = first(&["ANJU_GRPC_MAX_MESSAGE_BYTES"]) {
            self.grpc.max_message_bytes = parse("ANJU_GRPC_MAX_MESSAGE_BYTES", &v)?;
        }
        if let Some(v) = first(&["ANJU_GRPC_REQUEST_TIMEOUT_MS"]) {
            self.grpc.request_timeout_ms = parse("ANJU_GRPC_REQUEST_TIMEOUT_MS", &v)?;
        }
        if let Some(v) = first(&["ANJU_GRPC_MAX_IN_FLIGHT"]) {
            self.grpc.max_in_flight = parse("ANJU_GRPC_MAX_IN_FLIGHT", &v)?;
        }
        if let Some(v) = first(&["ANJU_GRPC_TENANT_RATE_PER_SECOND"]) {
            self.grpc.tenant_rate_per_second = parse("ANJU_GRPC_TENANT_RATE_PER_SECOND", &v)?;
        }
        if let Some(v) = first(&["ANJU_GRPC_TENANT_BURST"]) {
            self.grpc.tenant_burst = parse("ANJU_GRPC_TENANT_BURST", &v)?;
        }
        for service in SERVICES {
            let key = format!("ANJU_ENDPOINT_{}", service.to_ascii_uppercase());
            if let Some(v) = first(&[key.as_str()]) {
                self.grpc.endpoints.insert(service.to_string(), v);
            }
        }
        if let Some(v) = first(&["ANJU_AUTH_HS256_SECRET"]) {
            self.auth.hs256_secret = Some(Secret::new(v));
        }
        if let Some(v) = first(&["ANJU_AUTH_RS256_PUBLIC_KEY_FILE"]) {
            self.auth.rs256_public_key_file = Some(PathBuf::from(v));
        }
        if let Some(v) = first(&["ANJU_AUTH_JWKS"]) {
            self.auth.jwks = Some(v);
        }
        if let Some(v) = first(&["ANJU_AUTH_ISSUER"]) {
            self.auth.issuer = Some(v);
        }
        if let Some(v) = first(&["ANJU_AUTH_AUDIENCE"]) {
            self.auth.audience = Some(v);
        }
        if let Some(v) = first(&["ANJU_AUTH_JWKS_REFRESH_SECONDS"]) {
            self.auth.jwks_refresh_seconds = parse("ANJU_AUTH_JWKS_REFRESH_SECONDS", &v)?;
        }
        if let Some(v) = first(&["ANJU_AUTH_MAX_TOKEN_LIFETIME_SECONDS"]) {
            self.auth.max_token_lifetime_seconds =
                parse("ANJU_AUTH_MAX_TOKEN_LIFETIME_SECONDS", &v)?;
        }
        if let Some(v) = first(&["ANJU_AUTH_INTERNAL_PUBLIC_KEY_FILE"]) {
            self.auth.internal_public_key_file = Some(PathBuf::from(v));
        }
        if let Some(v) = first(&["ANJU_AUTH_INTERNAL_PRIVATE_KEY_FILE"]) {
            self.auth.internal_private_key_file = Some(PathBuf::from(v));
        }
        for (key, days) in [
            (
                "ANJU_RETENTION_IDEMPOTENCY_DAYS",
                &mut self.retention.idempotency_days,
            ),
            (
                "ANJU_RETENTION_OUTBOX_DAYS",
                &mut self.retention.outbox_days,
            ),
            ("ANJU_RETENTION_INBOX_DAYS", &mut self.retention.inbox_days),
            (
                "ANJU_RETENTION_SAGA_COMMAND_DAYS",
                &mut self.retention.saga_command_days,
            ),
        ] {
            if let Some(v) = first(&[key]) {
                *days = parse(key, &v)?;
            }
        }
        if let Some(v) = first(&["ANJU_LOG_FORMAT"]) {
            self.telemetry.log_format = match v.as_str() {
                "pretty" => LogFormat::Pretty,
                "json" => LogFormat::Json,
                other => bail!("ANJU_LOG_FORMAT: expected pretty or json, got {other:?}"),
            };
        }
        if let Some(v) = first(&["ANJU_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"]) {
            self.telemetry.otlp_endpoint = Some(v);
        }
        if let Some(v) = first(&["ANJU_METRICS_ADDRESS"]) {
            self.telemetry.metrics_address = Some(v);
        }
        if let Some(v) = first(&["ANJU_TRACE_STATEMENTS"]) {
            self.telemetry.trace_statements = parse("ANJU_TRACE_STATEMENTS", &v)?;
        }
        if let Some(v) = first(&["ANJU_PII_HMAC_KEY"]) {
            self.pii.hmac_key = Secret::new(v);
        }
        // `id:hex,id:hex`: the whole keyring, replacing the file's.
        if let Some(v) = first(&["ANJU_PII_ENCRYPTION_KEYS"]) {
            let mut keys = std::collections::BTreeMap::new();
            for entry in v.split(',').map(str::trim).filter(|e| !e.is_empty()) {
                let Some((id, key)) = entry.split_once(':') else {
                    bail!("ANJU_PII_ENCRYPTION_KEYS: expected id:hex pairs separated by commas");
                };
                keys.insert(id.trim().to_string(), Secret::new(key.trim()));
            }
            self.pii.encryption_keys = keys;
        }
        if let Some(v) = first(&["ANJU_PII_ACTIVE_KEY_ID"]) {
            self.pii.active_key_id = v;
        }
        Ok(())
    }

    /// In development, with no staff key configured, tokens are signed and verified with the
    /// development key (`anju token`, the demo, tests).
    pub fn apply_development_key(&mut self) {
        let auth = &mut self.auth;
        if self.environment == Environment::Development
            && auth.hs256_secret.is_none()
            && auth.rs256_public_key_file.is_none()
            && auth.jwks.is_none()
        {
            auth.hs256_secret = Some(Secret::new(DEV_HS256_SECRET));
        }
    }

    /// Refuses settings a service must not start with.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.database.max_connections < 2 {
            bail!("database.max_connections must be at least 2 (the relay listens on one)");
        }
        if self.database.process_budget < 2 * SERVICES.len() as u32 {
            bail!(
                "database.process_budget must be at least {} (two per service)",
                2 * SERVICES.len()
            );
        }
        if !self
            .database
            .name_prefix
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            bail!("database.name_prefix may hold only lowercase letters, digits and '_'");
        }
        if self.nats.prefix.is_empty() || self.nats.prefix.contains(['.', '*', '>', ' ']) {
            bail!("nats.prefix must be one subject token (no '.', '*', '>' or spaces)");
        }
        if !(1024..=1024 * 1024).contains(&self.nats.max_event_bytes) {
            bail!(
                "nats.max_event_bytes must be between 1 KiB and 1 MiB (NATS' default max_payload)"
            );
        }
        if self.nats.max_deliver < 1 {
            bail!("nats.max_deliver must be at least 1");
        }
        if !valid_host(&self.grpc.host) {
            bail!(
                "grpc.host must be an IP address or a host name (letters, digits, '.', '-'), not {:?}",
                self.grpc.host
            );
        }
        if self.grpc.max_message_bytes < 1024 {
            bail!("grpc.max_message_bytes must be at least 1024");
        }
        self.validate_auth()?;
        let retention = &self.retention;
        if retention.inbox_days < retention.outbox_days {
            bail!(
                "retention.inbox_days must be at least retention.outbox_days (a replayed event must still be recognised)"
            );
        }
        if retention.idempotency_days == 0
            || retention.outbox_days == 0
            || retention.saga_command_days == 0
            || retention.sweep_interval_seconds == 0
        {
            bail!("retention windows and retention.sweep_interval_seconds must be positive");
        }
        self.validate_pii()?;
        if self.environment == Environment::Production
            && self.telemetry.log_format != LogFormat::Json
        {
            bail!("telemetry.log_format must be json in production");
        }
        Ok(())
    }

    /// Production verifies staff and partner tokens with asymmetric keys only, names the
    /// issuer and audience it requires, and has the coordinator's own key pair: one
    /// symmetric secret would let whoever holds it mint an admin of any tenant.
    fn validate_auth(&self) -> anyhow::Result<()> {
        let auth = &self.auth;
        if auth.hs256_secret.is_none()
            && auth.rs256_public_key_file.is_none()
            && auth.jwks.is_none()
        {
            bail!("auth: configure rs256_public_key_file or jwks (hs256_secret in development)");
        }
        if auth
            .hs256_secret
            .as_ref()
            .is_some_and(|s| s.expose().len() < 32)
        {
            bail!("auth.hs256_secret must be at least 32 bytes");
        }
        if auth.max_token_lifetime_seconds == 0 || auth.jwks_refresh_seconds == 0 {
            bail!("auth.max_token_lifetime_seconds and auth.jwks_refresh_seconds must be positive");
        }
        if self.environment != Environment::Production {
            return Ok(());
        }
        if auth.hs256_secret.is_some() {
            bail!(
                "auth.hs256_secret is refused in production: verify staff tokens with rs256_public_key_file or jwks"
            );
        }
        if auth
            .jwks
            .as_ref()
            .is_some_and(|url| !url.starts_with("https://") && url.contains("://"))
        {
            bail!("auth.jwks must be fetched over https in production");
        }
        if auth.issuer.is_none() || auth.audience.is_none() {
            bail!("auth.issuer and auth.audience are required in production");
        }
        if auth.internal_public_key_file.is_none() {
            bail!(
                "auth.internal_public_key_file is required in production (the development coordinator key is refused)"
            );
        }
        Ok(())
    }

    /// The pool size of each service when one process hosts `hosted` services: the whole of
    /// `max_connections` alone, an equal share of `process_budget` beside others. With the
    /// defaults, `anju serve --target all` holds at most 28 connections (4 per service).
    pub fn pool_size(&self, hosted: usize) -> u32 {
        if hosted <= 1 {
            return self.database.max_connections;
        }
        (self.database.process_budget / hosted as u32).clamp(2, self.database.max_connections)
    }

    /// Personal-data keys must parse, and production must not run on the development ones:
    /// they are in the source, so whoever reads it could reverse the hashes and open the data.
    fn validate_pii(&self) -> anyhow::Result<()> {
        let pii = &self.pii;
        if pii.hmac_key.expose().len() < 32 {
            bail!("pii.hmac_key must be at least 32 bytes");
        }
        crate::pii::Keyring::new(pii)?;
        if self.environment != Environment::Production {
            return Ok(());
        }
        if pii.hmac_key.expose() == DEV_PII_HMAC_KEY {
            bail!("pii.hmac_key: the development key is refused in production");
        }
        if pii.encryption_keys.values().any(|key| {
            key.expose()
                .trim()
                .eq_ignore_ascii_case(DEV_PII_ENCRYPTION_KEY)
        }) {
            bail!("pii.encryption_keys: the development key is refused in production");
        }
        Ok(())
    }

    /// The database URL of one service: the server URL with the database `<prefix>_<service>`.
    pub fn database_url(&self, service: &str) -> String {
        with_database(self.database.url.expose(), &self.database_name(service))
    }

    pub fn database_name(&self, service: &str) -> String {
        format!("{}_{}", self.database.name_prefix, service)
    }

    /// The gRPC port of one service, or 0 when every service binds a free port.
    pub fn grpc_port(&self, service: &str) -> u16 {
        if self.grpc.base_port == 0 {
            return 0;
        }
        let index = SERVICES.iter().position(|s| *s == service).unwrap_or(0) as u16;
        self.grpc.base_port + index
    }

    /// The URL another service is reached at.
    pub fn endpoint(&self, service: &str) -> String {
        match self.grpc.endpoints.get(service) {
            Some(url) => url.clone(),
            None => self.url_at(self.grpc_port(service)),
        }
    }

    /// The URL of a port on `grpc.host` (an IPv6 address in brackets).
    pub fn url_at(&self, port: u16) -> String {
        match self.grpc.host.parse::<IpAddr>() {
            Ok(IpAddr::V6(v6)) => format!("http://[{v6}]:{port}"),
            _ => format!("http://{}:{port}", self.grpc.host),
        }
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.grpc.request_timeout_ms)
    }
}

/// Replaces the database path of a Postgres URL, keeping any query string.
pub fn with_database(server_url: &str, database: &str) -> String {
    let (base, query) = match server_url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (server_url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{base}/{database}?{query}"),
        None => format!("{base}/{database}"),
    }
}

/// An IP address or a DNS host name (RFC 1123: labels of letters, digits and hyphens).
fn valid_host(host: &str) -> bool {
    if host.parse::<IpAddr>().is_ok() {
        return true;
    }
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

fn parse<T: std::str::FromStr>(key: &str, value: &str) -> anyhow::Result<T>
where
    T::Err: fmt::Display,
{
    value
        .parse()
        .map_err(|err| anyhow::anyhow!("{key}: cannot parse {value:?}: {err}"))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn environment_overrides_file_and_defaults() {
        let mut settings: Settings = toml::from_str(
            "[nats]\nurl = \"nats://file:4222\"\nprefix = \"fromfile\"\n[grpc]\nbase_port = 6000\n",
        )
        .unwrap();
        assert_eq!(settings.nats.prefix, "fromfile");
        let env: HashMap<&str, &str> = [
            ("NATS_URL", "nats://env:4222"),
            ("ANJU_GRPC_BASE_PORT", "7000"),
        ]
        .into();
        settings
            .apply_env(|k| env.get(k).map(|v| v.to_string()))
            .unwrap();
        settings.apply_development_key();
        settings.validate().unwrap();
        assert_eq!(settings.nats.url, "nats://env:4222");
        assert_eq!(settings.nats.prefix, "fromfile");
        assert_eq!(settings.grpc_port("sales"), 7000);
        assert_eq!(settings.grpc_port("saga"), 7006);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        assert!(toml::from_str::<Settings>("[nats]\nurll = \"x\"\n").is_err());
        let mut settings = Settings::default();
        let err = settings
            .apply_env(|k| (k == "ANJU_GRPC_BASE_PORT").then(|| "eighty".to_string()))
            .unwrap_err();
        assert!(err.to_string().contains("ANJU_GRPC_BASE_PORT"));
    }

    #[test]
    fn production_needs_asymmetric_keys_and_named_claims() {
        let mut settings = Settings {
            environment: Environment::Production,
            ..Settings::default()
        };
        settings.telemetry.log_format = LogFormat::Json;
        settings.apply_development_key();
        assert!(
            settings.auth.hs256_secret.is_none(),
            "no development key in production"
        );
        let refusal = |s: &Settings| s.validate().unwrap_err().to_string();
        assert!(refusal(&settings).contains("rs256_public_key_file or jwks"));
        settings.auth.hs256_secret = Some(Secret::new("a-real-secret-of-at-least-32-bytes!!"));
        assert!(refusal(&settings).contains("refused in production"));
        settings.auth.hs256_secret = None;
        settings.auth.jwks = Some("http://id.example/jwks.json".into());
        assert!(refusal(&settings).contains("https"));
        settings.auth.jwks = Some("https://id.example/jwks.json".into());
        assert!(refusal(&settings).contains("issuer"));
        settings.auth.issuer = Some("https://id.example".into());
        settings.auth.audience = Some("anju".into());
        assert!(refusal(&settings).contains("internal_public_key_file"));
        settings.auth.internal_public_key_file = Some("/etc/anju/coordinator.pub.pem".into());
        settings.pii = production_pii();
        settings.validate().unwrap();
    }

    fn production_pii() -> PiiSettings {
        PiiSettings {
            hmac_key: Secret::new("a-production-identity-key-of-32-bytes!"),
            encryption_keys: [("2026-12".to_string(), Secret::new("ab".repeat(32)))].into(),
            active_key_id: "2026-12".into(),
        }
    }

    #[test]
    fn production_refuses_the_development_pii_keys() {
        let mut settings = Settings {
            environment: Environment::Production,
            ..Settings::default()
        };
        settings.telemetry.log_format = LogFormat::Json;
        settings.auth.jwks = Some("https://id.example/jwks.json".into());
        settings.auth.issuer = Some("https://id.example".into());
        settings.auth.audience = Some("anju".into());
        settings.auth.internal_public_key_file = Some("/etc/anju/coordinator.pub.pem".into());
        let refusal = |s: &Settings| s.validate().unwrap_err().to_string();
        assert!(refusal(&settings).contains("pii.hmac_key"));
        let env: HashMap<&str, String> = [
            (
                "ANJU_PII_HMAC_KEY",
                "a-production-identity-key-of-32-bytes!".into(),
            ),
            (
                "ANJU_PII_ENCRYPTION_KEYS",
                format!("old:{DEV_PII_ENCRYPTION_KEY}, new:{}", "cd".repeat(32)),
            ),
            ("ANJU_PII_ACTIVE_KEY_ID", "new".into()),
        ]
        .into();
        settings.apply_env(|k| env.get(k).cloned()).unwrap();
        assert_eq!(settings.pii.active_key_id, "new");
        assert_eq!(settings.pii.encryption_keys.len(), 2);
        assert!(refusal(&settings).contains("pii.encryption_keys"));
        settings.pii.encryption_keys.remove("old");
        settings.validate().unwrap();
        settings.pii.active_key_id = "old".into();
        assert!(refusal(&settings).contains("active_key_id"));
        // Development keeps its defaults, which stay out of debug output.
        let development = Settings::default();
        development.validate_pii().unwrap();
        let printed = format!("{development:?}");
        assert!(!printed.contains(DEV_PII_HMAC_KEY) && !printed.contains(DEV_PII_ENCRYPTION_KEY));
    }

    #[test]
    fn short_secrets_are_refused() {
        let mut settings = Settings::default();
        settings.auth.hs256_secret = Some(Secret::new("short"));
        assert!(
            settings
                .validate()
                .unwrap_err()
                .to_string()
                .contains("32 bytes")
        );
        let mut settings = Settings::default();
        settings.apply_development_key();
        settings.validate().unwrap();
    }

    #[test]
    fn secrets_are_not_printed() {
        let mut settings = Settings::default();
        settings.apply_development_key();
        let printed = format!("{settings:?}");
        assert!(!printed.contains(DEV_HS256_SECRET));
        assert!(!printed.contains("postgres://"));
    }

    #[test]
    fn services_sharing_a_process_share_its_budget() {
        let mut settings = Settings::default();
        assert_eq!(settings.pool_size(1), 16);
        assert_eq!(settings.pool_size(SERVICES.len()), 4);
        settings.database.max_connections = 3;
        assert_eq!(
            settings.pool_size(SERVICES.len()),
            3,
            "never above max_connections"
        );
        settings.database.process_budget = 7;
        assert!(settings.validate().is_err());
    }

    #[test]
    fn database_url_per_service() {
        assert_eq!(
            with_database("postgres://u@h:5432/postgres?sslmode=disable", "anju_sales"),
            "postgres://u@h:5432/anju_sales?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://u@h:5432", "x"),
            "postgres://u@h:5432/x"
        );
        let settings = Settings::default();
        assert_eq!(settings.database_name("title"), "anju_title");
    }

    #[test]
    fn the_grpc_host_is_an_address_or_a_host_name() {
        for host in [
            "127.0.0.1",
            "0.0.0.0",
            "::1",
            "localhost",
            "sales.anju.svc.cluster.local",
        ] {
            assert!(valid_host(host), "{host}");
        }
        for host in [
            "",
            "http://sales",
            "sales anju",
            "-sales",
            "sales..anju",
            "sales:50051",
        ] {
            assert!(!valid_host(host), "{host:?}");
        }
        let mut settings = Settings::default();
        settings.grpc.host = "sales anju".into();
        let refused = settings.validate().unwrap_err().to_string();
        assert!(refused.contains("grpc.host"), "{refused}");
        settings.grpc.host = "localhost".into();
        settings.grpc.base_port = 7000;
        assert_eq!(settings.endpoint("finance"), "http://localhost:7001");
        settings.grpc.host = "::1".into();
        assert_eq!(settings.endpoint("finance"), "http://[::1]:7001");
    }
}
