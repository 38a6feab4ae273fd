//! Who is calling: the bearer token in `authorization` metadata, or the SPIFFE ID in the client certificate of
//! a mutual-TLS connection (`spiffe://<trust-domain>/cluster/<name>` for shims,
//! `spiffe://<trust-domain>/platform/<name>` for platforms). Every FleetService call is authorized here before it
//! reaches the fleet; ShimService streams are bound to the cluster their credential proves.

use std::collections::BTreeMap;

use chrono::Utc;
use tonic::{Request, Status};
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

use crate::fleet::access::{Caller, Permission, Role};
use crate::fleet::api_tokens::TokenRejected;
use crate::fleet::{Fleet, ShimRejected, token};
use crate::store::{ClusterRecord, TokenMatch};

/// A platform certificate's grant: `--platform-role NAME=ROLE[:NAMESPACE,…]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlatformGrant {
    pub role: Role,
    /// None: every namespace.
    pub namespaces: Option<Vec<String>>,
}

impl std::str::FromStr for PlatformGrant {
    type Err = String;

    /// `ROLE` or `ROLE:ns1,ns2`.
    fn from_str(text: &str) -> Result<Self, String> {
        let (role, namespaces) = match text.split_once(':') {
            Some((role, namespaces)) => (role, Some(namespaces.split(',').map(str::to_string).collect::<Vec<_>>())),
            None => (text, None),
        };
        let role = Role::parse(role).ok_or_else(|| format!("unknown role {role:?}: use viewer, operator or admin"))?;
        if namespaces.as_ref().is_some_and(|n| n.iter().any(String::is_empty)) {
            return Err(format!("empty namespace in {text:?}"));
        }
        Ok(PlatformGrant { role, namespaces })
    }
}

/// How callers are identified.
#[derive(Clone, Debug, Default)]
pub struct AuthConfig {
    /// The SPIFFE trust domain of client certificates.
    pub trust_domain: String,
    /// Platform certificate names and what they may do; a platform certificate not listed is refused.
    pub platform_grants: BTreeMap<String, PlatformGrant>,
}

/// The identity a client certificate proves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeerIdentity {
    Cluster(String),
    Platform(String),
}

impl PeerIdentity {
    pub fn spiffe_id(&self, trust_domain: &str) -> String {
        match self {
            PeerIdentity::Cluster(name) => format!("spiffe://{trust_domain}/cluster/{name}"),
            PeerIdentity::Platform(name) => format!("spiffe://{trust_domain}/platform/{name}"),
        }
    }
}

/// What a shim stream is bound to.
pub struct ShimCredential {
    pub cluster: ClusterRecord,
    /// Token match, or None when the certificate alone proved the cluster.
    pub token: Option<TokenMatch>,
}

/// Authenticates and authorizes callers.
#[derive(Clone)]
pub struct Authenticator {
    fleet: Fleet,
    config: std::sync::Arc<AuthConfig>,
}

/// The token in `authorization: Bearer <token>` metadata; None when there is no such metadata.
pub fn bearer_token<T>(request: &Request<T>) -> Result<Option<String>, Status> {
    let Some(value) = request.metadata().get("authorization") else { return Ok(None) };
    let value = value.to_str().map_err(|_| Status::unauthenticated("authorization metadata is not text"))?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
        .ok_or_else(|| Status::unauthenticated("authorization metadata must be `Bearer <token>`"))?;
    if token.is_empty() {
        return Err(Status::unauthenticated("authorization metadata holds an empty token"));
    }
    Ok(Some(token.to_string()))
}

/// The SPIFFE identity of the client certificate, when the connection has one.
pub fn peer_identity<T>(request: &Request<T>, trust_domain: &str) -> Result<Option<PeerIdentity>, Status> {
    let Some(certs) = request.peer_certs() else { return Ok(None) };
    let Some(leaf) = certs.first() else { return Ok(None) };
    let (_, cert) = X509Certificate::from_der(leaf.as_ref())
        .map_err(|e| Status::unauthenticated(format!("client certificate cannot be read: {e}")))?;
    let uris: Vec<&str> = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|san| {
            san.value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    GeneralName::URI(uri) => Some(*uri),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let prefix = format!("spiffe://{trust_domain}/");
    let mut identities = uris.iter().filter_map(|uri| uri.strip_prefix(&prefix)).filter_map(|path| {
        let (kind, name) = path.split_once('/')?;
        let valid = crate::apiserver::names::is_dns1123_label(name).is_empty();
        match kind {
            "cluster" if valid => Some(PeerIdentity::Cluster(name.to_string())),
            "platform" if valid => Some(PeerIdentity::Platform(name.to_string())),
            _ => None,
        }
    });
    let identity = identities.next();
    if identities.next().is_some() {
        return Err(Status::unauthenticated("client certificate carries more than one daemonplane SPIFFE ID"));
    }
    if identity.is_none() && !uris.is_empty() {
        tracing::debug!(?uris, trust_domain, "client certificate has no daemonplane SPIFFE ID");
    }
    Ok(identity)
}

impl Authenticator {
    pub fn new(fleet: Fleet, config: AuthConfig) -> Self {
        Authenticator { fleet, config: std::sync::Arc::new(config) }
    }

    /// The platform caller of a FleetService request: its API token, or else its platform certificate.
    pub async fn caller<T>(&self, request: &Request<T>) -> Result<Caller, Status> {
        if let Some(secret) = bearer_token(request)? {
            return self.fleet.authenticate_api_token(&secret, Utc::now()).await.map_err(rejected);
        }
        match peer_identity(request, &self.config.trust_domain)? {
            Some(PeerIdentity::Platform(name)) => {
                let grant = self.config.platform_grants.get(&name).ok_or_else(|| {
                    Status::permission_denied(format!(
                        "platform certificate {name:?} is not granted a role (serve --platform-role {name}=ROLE)"
                    ))
                })?;
                Ok(Caller {
                    identity: PeerIdentity::Platform(name).spiffe_id(&self.config.trust_domain),
                    role: grant.role,
                    namespaces: grant.namespaces.clone(),
                    token_hash: None,
                    valid_until: None,
                })
            }
            Some(PeerIdentity::Cluster(name)) => Err(Status::permission_denied(format!(
                "the certificate of cluster {name:?} is for ShimService; FleetService needs a platform credential"
            ))),
            None => Err(Status::unauthenticated(
                "missing credential: send `authorization: Bearer <API token>` metadata or a platform client certificate",
            )),
        }
    }

    /// The caller, if it holds `permission` (in `namespace`, when the call concerns one).
    pub async fn authorize<T>(
        &self,
        request: &Request<T>,
        permission: Permission,
        namespace: Option<&str>,
    ) -> Result<Caller, Status> {
        let caller = self.caller(request).await?;
        caller.check(permission, namespace).map_err(|denied| Status::permission_denied(denied.to_string()))?;
        Ok(caller)
    }

    /// Whether a caller authenticated earlier still is (a watch re-checks after revocations).
    pub async fn still_valid(&self, caller: &Caller) -> Result<(), Status> {
        let Some(hash) = &caller.token_hash else { return Ok(()) };
        self.fleet.reauthenticate_api_token(hash, Utc::now()).await.map_err(rejected)
    }

    /// The cluster a ShimService stream acts for: proven by its certificate, its token, or both (then they must
    /// agree).
    pub async fn shim<T>(&self, request: &Request<T>) -> Result<ShimCredential, Status> {
        let token = bearer_token(request)?;
        let certificate = match peer_identity(request, &self.config.trust_domain)? {
            Some(PeerIdentity::Cluster(name)) => Some(name),
            Some(PeerIdentity::Platform(name)) => {
                return Err(Status::permission_denied(format!(
                    "the certificate of platform {name:?} cannot open a shim stream"
                )));
            }
            None => None,
        };
        let by_token = match &token {
            Some(secret) if secret.starts_with(token::API_PREFIX) => {
                return Err(Status::unauthenticated(
                    "an API token is not valid for ShimService; use the cluster's shim token",
                ));
            }
            Some(secret) => Some(self.fleet.authenticate_shim_token(secret, Utc::now()).await.map_err(shim_rejected)?),
            None => None,
        };
        match (certificate, by_token) {
            (Some(name), Some((cluster, matched))) => {
                if cluster.name != name {
                    return Err(Status::permission_denied(format!(
                        "the certificate proves cluster {name:?} but the token belongs to cluster {:?}",
                        cluster.name
                    )));
                }
                Ok(ShimCredential { cluster, token: Some(matched) })
            }
            (None, Some((cluster, matched))) => Ok(ShimCredential { cluster, token: Some(matched) }),
            (Some(name), None) => {
                let cluster = self.fleet.cluster_for_certificate(&name).await.map_err(shim_rejected)?;
                Ok(ShimCredential { cluster, token: None })
            }
            (None, None) => Err(Status::unauthenticated(
                "missing shim token: send `authorization: Bearer <token>` metadata (or a cluster client certificate)",
            )),
        }
    }
}

fn rejected(e: TokenRejected) -> Status {
    match e {
        TokenRejected::Store(e) => super::to_status(e),
        other => Status::unauthenticated(other.to_string()),
    }
}

fn shim_rejected(e: ShimRejected) -> Status {
    match e {
        ShimRejected::Store(e) => super::to_status(e),
        other => Status::unauthenticated(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_grants_parse() {
        assert_eq!("viewer".parse(), Ok(PlatformGrant { role: Role::Viewer, namespaces: None }));
        assert_eq!(
            "operator:team-a,team-b".parse(),
            Ok(PlatformGrant { role: Role::Operator, namespaces: Some(vec!["team-a".into(), "team-b".into()]) })
        );
        assert!("root".parse::<PlatformGrant>().unwrap_err().contains("unknown role"));
        assert!("admin:".parse::<PlatformGrant>().unwrap_err().contains("empty namespace"));
    }
}
