//! Who calls a tenant's `/private` routes, and whether they may act for the tenant they name (OWASP API1,
//! broken object-level authorization): the tenant of a request is proven by its token, not merely named
//! in the `x-tenant-identifier` header.
//!
//! The API's JWT authorizer has checked the token (issuer, audience, signature, expiry) before the
//! function runs and hands its claims over. Two proofs are accepted:
//! - a tenant claim (the `TenantClaim` parameter names it): its value must be the tenant;
//! - without one (a client-credentials token names its client, not a tenant), the token's subject: the
//!   first configure binds the tenant to its caller's subject, and afterwards a token without the tenant
//!   claim is served for the tenant only with that subject. An operator re-binds a tenant by the
//!   runbook's procedure.

/// The verified identity of a `/private` request, from its token's claims.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Caller {
    /// The token's subject (`sub`): for ACP's tokens, its OAuth client.
    pub subject: Option<String>,
    /// The value of the configured tenant claim, when the token has one.
    pub tenant_claim: Option<String>,
}

/// Why a caller may not act for a tenant (HTTP 403).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Forbidden {
    /// The token's tenant claim names another tenant.
    #[error("the token is not for this tenant")]
    OtherTenant,
    /// Neither a tenant claim nor a subject: nothing binds the token to a tenant.
    #[error("the token names no subject")]
    NoSubject,
    /// The tenant is bound to the token subject of its first configure, and this is another one.
    #[error("the tenant is bound to another token")]
    OtherSubject,
}

impl Caller {
    /// Whether this caller may act for `tenant`, whose first configure bound it to `bound` (if it did).
    /// A tenant nobody bound yet may be called by any subject: only its configure binds it, and nothing
    /// else can be done for a tenant that was never configured.
    pub fn may_act_for(&self, tenant: &str, bound: Option<&str>) -> Result<(), Forbidden> {
        if let Some(claimed) = &self.tenant_claim {
            return if claimed == tenant {
                Ok(())
            } else {
                Err(Forbidden::OtherTenant)
            };
        }
        let subject = self.subject.as_deref().ok_or(Forbidden::NoSubject)?;
        match bound {
            Some(bound) if bound != subject => Err(Forbidden::OtherSubject),
            Some(_) | None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject(s: &str) -> Caller {
        Caller {
            subject: Some(s.into()),
            tenant_claim: None,
        }
    }

    #[test]
    fn a_tenant_claim_must_name_the_tenant_whatever_the_binding() {
        let caller = Caller {
            subject: Some("client-a@clients".into()),
            tenant_claim: Some("shop-a".into()),
        };
        assert_eq!(caller.may_act_for("shop-a", Some("someone-else")), Ok(()));
        assert_eq!(caller.may_act_for("shop-b", None), Err(Forbidden::OtherTenant));
    }

    #[test]
    fn without_a_tenant_claim_the_subject_must_be_the_bound_one() {
        let caller = subject("client-a@clients");
        assert_eq!(caller.may_act_for("shop-a", None), Ok(()), "not bound yet");
        assert_eq!(caller.may_act_for("shop-a", Some("client-a@clients")), Ok(()));
        assert_eq!(
            caller.may_act_for("shop-a", Some("client-b@clients")),
            Err(Forbidden::OtherSubject)
        );
        assert_eq!(Caller::default().may_act_for("shop-a", None), Err(Forbidden::NoSubject));
    }
}
