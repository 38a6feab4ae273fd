//! API tokens of platform callers: created by an admin (the secret shown once, only its hash kept), listed
//! without secrets, revoked at once (open watch streams included), and the first admin token bootstrapped on an
//! empty database.

use chrono::{DateTime, Duration, Utc};

use super::access::{Caller, Role};
use super::{Fleet, FleetError, token};
use crate::apiserver::field::FieldError;
use crate::apiserver::names::validate_dns1123_label_at;
use crate::store::ApiTokenRecord;

/// The name of the admin token `serve` creates on an empty database.
pub const BOOTSTRAP_TOKEN_NAME: &str = "bootstrap-admin";

/// Shortest secret accepted for the bootstrap token given from outside.
const MIN_BOOTSTRAP_SECRET: usize = 32;

/// Why a presented API token does not authenticate.
#[derive(Debug, thiserror::Error)]
pub enum TokenRejected {
    #[error("a shim token is not valid for FleetService; use an API token (CreateApiToken)")]
    ShimToken,
    #[error("unknown API token")]
    Unknown,
    #[error("API token {name:?} expired at {at}")]
    Expired { name: String, at: DateTime<Utc> },
    #[error("API token {name:?} was revoked at {at}")]
    Revoked { name: String, at: DateTime<Utc> },
    #[error("API token {name:?} has an unknown role {role:?}")]
    UnknownRole { name: String, role: String },
    #[error(transparent)]
    Store(#[from] FleetError),
}

impl Fleet {
    /// Creates an API token; returns it with its secret (shown only now).
    pub async fn create_api_token(
        &self,
        name: &str,
        role: Role,
        namespaces: Vec<String>,
        ttl: Option<Duration>,
        by: &Caller,
    ) -> Result<(ApiTokenRecord, String), FleetError> {
        let mut errors = validate_dns1123_label_at(name, "name");
        for (i, namespace) in namespaces.iter().enumerate() {
            errors.extend(validate_dns1123_label_at(namespace, &format!("namespaces[{i}]")));
        }
        FleetError::check(errors)?;
        let mut namespaces = namespaces;
        namespaces.sort();
        namespaces.dedup();
        let now = Utc::now();
        let secret = token::generate(token::API_PREFIX);
        let record = ApiTokenRecord {
            name: name.to_string(),
            role: role.as_str().to_string(),
            namespaces,
            created_at: now,
            expires_at: ttl.map(|ttl| now + ttl),
            created_by: by.identity.clone(),
            revoked_at: None,
        };
        self.store().create_api_token(&record, &token::hash(&secret)).await?;
        Ok((record, secret))
    }

    pub async fn list_api_tokens(&self) -> Result<Vec<ApiTokenRecord>, FleetError> {
        Ok(self.store().list_api_tokens().await?)
    }

    /// Revokes a token; calls and open watch streams made with it fail from now on.
    pub async fn revoke_api_token(&self, name: &str) -> Result<ApiTokenRecord, FleetError> {
        let record = self.store().revoke_api_token(name, Utc::now()).await?;
        self.inner.credentials_changed.send_modify(|n| *n = n.wrapping_add(1));
        Ok(record)
    }

    /// The caller an API token stands for, at `now`.
    pub async fn authenticate_api_token(&self, secret: &str, now: DateTime<Utc>) -> Result<Caller, TokenRejected> {
        if secret.starts_with(token::SHIM_PREFIX) {
            return Err(TokenRejected::ShimToken);
        }
        self.caller_for_token_hash(token::hash(secret), now).await
    }

    /// Whether a token authenticated earlier (by its hash) still is at `now`.
    pub async fn reauthenticate_api_token(&self, hash: &str, now: DateTime<Utc>) -> Result<(), TokenRejected> {
        self.caller_for_token_hash(hash.to_string(), now).await.map(|_| ())
    }

    async fn caller_for_token_hash(&self, hash: String, now: DateTime<Utc>) -> Result<Caller, TokenRejected> {
        let record = self.store().api_token_by_hash(&hash).await.map_err(FleetError::from)?;
        let record = record.ok_or(TokenRejected::Unknown)?;
        if let Some(at) = record.revoked_at {
            return Err(TokenRejected::Revoked { name: record.name, at });
        }
        if let Some(at) = record.expires_at.filter(|at| *at <= now) {
            return Err(TokenRejected::Expired { name: record.name, at });
        }
        let role = Role::parse(&record.role)
            .ok_or_else(|| TokenRejected::UnknownRole { name: record.name.clone(), role: record.role.clone() })?;
        Ok(Caller {
            identity: format!("token:{}", record.name),
            role,
            namespaces: (!record.namespaces.is_empty()).then_some(record.namespaces),
            token_hash: Some(hash),
            valid_until: record.expires_at,
        })
    }

    /// Changes whenever a credential is revoked, so long calls (watches) can check theirs again.
    pub fn credentials_changed(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.credentials_changed.subscribe()
    }

    /// Creates the first admin token when the database has no API token at all: `secret` when given (it must be
    /// at least 32 characters), a new one otherwise. Returns the secret it stored, or None when tokens exist.
    pub async fn bootstrap_admin_token(&self, secret: Option<String>) -> Result<Option<String>, FleetError> {
        if let Some(secret) = &secret
            && (secret.len() < MIN_BOOTSTRAP_SECRET || secret.starts_with(token::SHIM_PREFIX))
        {
            return Err(FleetError::invalid(FieldError::invalid_value(
                "DAEMONPLANE_BOOTSTRAP_TOKEN",
                "(hidden)",
                format!("must be at least {MIN_BOOTSTRAP_SECRET} characters and not a shim token"),
            )));
        }
        let secret = secret.unwrap_or_else(|| token::generate(token::API_PREFIX));
        let record = ApiTokenRecord {
            name: BOOTSTRAP_TOKEN_NAME.to_string(),
            role: Role::Admin.as_str().to_string(),
            namespaces: Vec::new(),
            created_at: Utc::now(),
            expires_at: None,
            created_by: "daemonplane serve (bootstrap)".to_string(),
            revoked_at: None,
        };
        let created = self.store().create_first_api_token(&record, &token::hash(&secret)).await?;
        Ok(created.then_some(secret))
    }
}
