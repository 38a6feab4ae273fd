//! Who may do what: roles, the permissions they grant, and a caller's scope. The api layer names the permission
//! each call needs and checks it here before the call reaches the fleet.

use std::fmt;

/// What an API token or a platform certificate may do. Each role includes the one before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    Viewer,
    Operator,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "viewer" => Some(Role::Viewer),
            "operator" => Some(Role::Operator),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    /// The least role that grants `permission`.
    fn least_for(permission: Permission) -> Role {
        match permission {
            Permission::ClustersRead | Permission::DaemonSetsRead => Role::Viewer,
            Permission::DaemonSetsWrite => Role::Operator,
            Permission::ClustersWrite | Permission::TokensManage => Role::Admin,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a call needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Permission {
    /// ListClusters, GetCluster.
    ClustersRead,
    /// RegisterCluster, RotateClusterToken, RevokeClusterToken.
    ClustersWrite,
    /// Get, list, explain, plan and watch DaemonSets, their revisions and rollouts.
    DaemonSetsRead,
    /// Apply, delete, roll back, pause and resume DaemonSets.
    DaemonSetsWrite,
    /// CreateApiToken, ListApiTokens, RevokeApiToken.
    TokensManage,
}

impl Permission {
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::ClustersRead => "clusters.read",
            Permission::ClustersWrite => "clusters.write",
            Permission::DaemonSetsRead => "daemonsets.read",
            Permission::DaemonSetsWrite => "daemonsets.write",
            Permission::TokensManage => "tokens.manage",
        }
    }

    /// Fleet-wide permissions: a namespace-scoped caller never holds them.
    fn fleet_wide(self) -> bool {
        matches!(self, Permission::ClustersWrite | Permission::TokensManage)
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An authenticated platform caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// Recorded as the author of changes: `token:<name>`, or a platform certificate's SPIFFE ID.
    pub identity: String,
    pub role: Role,
    /// The namespaces whose DaemonSets the caller reaches; None: all.
    pub namespaces: Option<Vec<String>>,
    /// The hash of the API token the caller presented (None for a certificate), so a long call can check that
    /// the token is still valid.
    pub token_hash: Option<String>,
    /// When the credential stops working (a token's expiry).
    pub valid_until: Option<chrono::DateTime<chrono::Utc>>,
}

/// Why a caller may not make a call.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    #[error("permission {permission} is missing: {identity} has role {role}")]
    Role { permission: Permission, identity: String, role: Role },
    #[error("permission {permission} needs a caller without a namespace scope: {identity} is limited to {scope}")]
    FleetWide { permission: Permission, identity: String, scope: String },
    #[error("permission {permission} in namespace {namespace:?} is missing: {identity} is limited to {scope}")]
    Namespace { permission: Permission, namespace: String, identity: String, scope: String },
}

impl Caller {
    /// Checks `permission`, in `namespace` when the call concerns one.
    pub fn check(&self, permission: Permission, namespace: Option<&str>) -> Result<(), Denied> {
        if self.role < Role::least_for(permission) {
            return Err(Denied::Role { permission, identity: self.identity.clone(), role: self.role });
        }
        let Some(scope) = &self.namespaces else { return Ok(()) };
        if permission.fleet_wide() {
            return Err(Denied::FleetWide { permission, identity: self.identity.clone(), scope: scope.join(",") });
        }
        match namespace {
            Some(ns) if !scope.iter().any(|s| s == ns) => Err(Denied::Namespace {
                permission,
                namespace: ns.to_string(),
                identity: self.identity.clone(),
                scope: scope.join(","),
            }),
            _ => Ok(()),
        }
    }

    /// Whether the caller reaches a namespace (for filtering lists).
    pub fn reaches(&self, namespace: &str) -> bool {
        self.namespaces.as_ref().is_none_or(|scope| scope.iter().any(|s| s == namespace))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(role: Role, namespaces: Option<&[&str]>) -> Caller {
        Caller {
            identity: "token:t".into(),
            role,
            namespaces: namespaces.map(|n| n.iter().map(|s| s.to_string()).collect()),
            token_hash: None,
            valid_until: None,
        }
    }

    #[test]
    fn each_role_includes_the_one_before() {
        use Permission::*;
        let table = [
            (Role::Viewer, [true, false, true, false, false]),
            (Role::Operator, [true, false, true, true, false]),
            (Role::Admin, [true, true, true, true, true]),
        ];
        for (role, allowed) in table {
            for (permission, allowed) in
                [ClustersRead, ClustersWrite, DaemonSetsRead, DaemonSetsWrite, TokensManage].into_iter().zip(allowed)
            {
                assert_eq!(caller(role, None).check(permission, None).is_ok(), allowed, "{role} {permission}");
            }
        }
        let denied = caller(Role::Viewer, None).check(DaemonSetsWrite, Some("default")).unwrap_err();
        assert_eq!(denied.to_string(), "permission daemonsets.write is missing: token:t has role viewer");
    }

    #[test]
    fn a_namespace_scope_limits_daemonsets_and_excludes_fleet_wide_permissions() {
        let scoped = caller(Role::Admin, Some(&["team-a"]));
        assert!(scoped.check(Permission::DaemonSetsWrite, Some("team-a")).is_ok());
        let denied = scoped.check(Permission::DaemonSetsWrite, Some("team-b")).unwrap_err();
        assert_eq!(
            denied.to_string(),
            "permission daemonsets.write in namespace \"team-b\" is missing: token:t is limited to team-a"
        );
        assert!(matches!(scoped.check(Permission::TokensManage, None), Err(Denied::FleetWide { .. })));
        assert!(matches!(scoped.check(Permission::ClustersWrite, None), Err(Denied::FleetWide { .. })));
        assert!(scoped.check(Permission::ClustersRead, None).is_ok());
        assert!(scoped.reaches("team-a") && !scoped.reaches("team-b"));
        assert!(caller(Role::Viewer, None).reaches("anything"));
    }

    #[test]
    fn roles_parse_and_print() {
        for role in [Role::Viewer, Role::Operator, Role::Admin] {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("root"), None);
    }
}
