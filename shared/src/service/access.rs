//! The tenant check every `/private` route runs before anything else: the caller must be allowed to act
//! for the tenant its request names (see [`crate::domain::caller`]). The binding is read from the tenant's
//! record, strongly consistent, so a tenant bound a moment ago is bound for every function at once.

use crate::domain::caller::{Caller, Forbidden};
use crate::ports::{StoreError, TenantStore};

/// Why a request may not go on.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// The caller may not act for the tenant (HTTP 403).
    #[error(transparent)]
    Forbidden(#[from] Forbidden),
    /// The tenant's record could not be read (HTTP 503).
    #[error("the tenant's record cannot be read now: {0}")]
    Unavailable(#[from] StoreError),
}

/// Checks that `caller` may act for `tenant`. A refusal is logged for operators (never with the token).
pub async fn authorize<S: TenantStore>(records: &S, tenant: &str, caller: &Caller) -> Result<(), AccessError> {
    let record = records.get_tenant(tenant).await?;
    let bound = record.as_ref().and_then(|r| r.token_subject.as_deref());
    caller.may_act_for(tenant, bound).map_err(|refusal| {
        tracing::warn!(tenant, subject = ?caller.subject, reason = %refusal, "request for a tenant its token does not prove: refused");
        AccessError::Forbidden(refusal)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::MemoryStore;
    use crate::service::testing::bound_tenant;

    fn caller(subject: &str) -> Caller {
        Caller {
            subject: Some(subject.into()),
            tenant_claim: None,
        }
    }

    #[tokio::test]
    async fn only_the_bound_subject_may_act_for_a_tenant() {
        let store = MemoryStore::default();
        assert!(
            authorize(&store, "shop-a", &caller("a@clients")).await.is_ok(),
            "never configured"
        );
        bound_tenant(&store, "shop-a", "a@clients").await;
        assert!(authorize(&store, "shop-a", &caller("a@clients")).await.is_ok());
        assert!(matches!(
            authorize(&store, "shop-a", &caller("b@clients")).await,
            Err(AccessError::Forbidden(Forbidden::OtherSubject))
        ));
    }
}
