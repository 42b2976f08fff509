//! Merchant onboarding (contract §3.5, §5.7): a marketplace merchant of a tenant gets its own account
//! at the PSP; the PSP's review of that account decides the onboarding status of decision §9.10.
//!
//! [`AccountReview`] is what the PSP says about an account, in PSP-neutral terms (the Stripe adapter
//! fills it from an Account object); [`AccountReview::status`] is the one mapping onto §9.10, reasoned
//! below. [`MerchantOnboarding`] is the state the app keeps per (tenant, merchant reference).

use super::TenantId;
pub use crate::acp::MerchantOnboardingStatus;
use serde::{Deserialize, Serialize};

/// Why the PSP disabled an account (it can neither take payments nor pay out).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountHold {
    /// The PSP (or the platform) refused the merchant for good.
    Rejected,
    /// The PSP is verifying what the merchant submitted; nothing to do but wait.
    UnderReview,
    /// The merchant (or the platform) must act: requirements past due, capabilities to request,
    /// a listing, a paused platform, or a reason the PSP gives no detail for.
    ActionRequired,
}

/// What the PSP reports about a merchant's account.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountReview {
    /// The merchant finished the PSP's onboarding form.
    pub details_submitted: bool,
    /// The account can take payments.
    pub charges_enabled: bool,
    /// The account can be paid out.
    pub payouts_enabled: bool,
    /// Why the account is disabled, if it is.
    pub hold: Option<AccountHold>,
    /// Some requirement is past its deadline (some capability is already restricted).
    pub past_due: bool,
    /// Some requirement must be collected to keep the account enabled (a deadline runs or will run).
    pub due_soon: bool,
}

impl AccountReview {
    /// The onboarding status (decision §9.10) of an account in this state. In order, first match wins:
    ///
    /// 1. held as **rejected** → `rejected`: final, whatever else the account says;
    /// 2. form **not submitted** → `incomplete`: the merchant has to continue onboarding (a link does);
    /// 3. held **under review** → `pending`: the PSP decides, the merchant waits;
    /// 4. held for an **action**, or anything **past due** → `restricted`: the account is (partly)
    ///    disabled until the merchant acts;
    /// 5. **charges disabled** without a hold → `pending`: submitted, the PSP has not enabled it yet;
    /// 6. requirements **due** to keep it enabled → `restricted soon`: it works, but will be restricted
    ///    unless the merchant acts before the deadline;
    /// 7. charges **and payouts** enabled → `completed`; charges only → `enabled` (it can take payments,
    ///    payouts still wait for verification).
    ///
    /// Requirements that only become due later (Stripe's `eventually_due`) do not change the status: the
    /// PSP moves them to `currently_due` (rule 6) when they start to matter.
    pub fn status(&self) -> MerchantOnboardingStatus {
        use MerchantOnboardingStatus as S;
        match self.hold {
            Some(AccountHold::Rejected) => return S::Rejected,
            Some(AccountHold::UnderReview) | Some(AccountHold::ActionRequired) | None => {}
        }
        if !self.details_submitted {
            return S::Incomplete;
        }
        match self.hold {
            Some(AccountHold::UnderReview) => return S::Pending,
            Some(AccountHold::ActionRequired) => return S::Restricted,
            Some(AccountHold::Rejected) | None => {}
        }
        if self.past_due {
            S::Restricted
        } else if !self.charges_enabled {
            S::Pending
        } else if self.due_soon {
            S::RestrictedSoon
        } else if self.payouts_enabled {
            S::Completed
        } else {
            S::Enabled
        }
    }
}

/// The PSP event that last changed an onboarding's status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusSource {
    /// The PSP's event id (`evt_…`).
    pub event_id: String,
    /// When the PSP created the event (Unix seconds): older events never move the status back.
    pub created: i64,
}

/// The onboarding of one merchant of one tenant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MerchantOnboarding {
    /// The tenant (shop) the merchant sells in.
    pub tenant: TenantId,
    /// The tenant's merchant reference, e.g. `MER000001`.
    pub merchant_reference: String,
    /// The merchant's account at the PSP (`acct_…`).
    pub account_id: String,
    /// The current status (decision §9.10).
    pub status: MerchantOnboardingStatus,
    /// The event that set `status`; `None` while it is the initial `incomplete`.
    pub status_source: Option<StatusSource>,
    /// Optimistic-locking version, incremented on every change.
    pub version: u64,
}

/// What a PSP account event means for an onboarding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StatusDecision {
    /// The status changes: store `next`, tell the tenant.
    Changed(MerchantOnboarding),
    /// This very event changed the status before (a redelivery after a crash before its message was
    /// committed): tell the tenant again, store nothing.
    AlreadyApplied,
    /// Nothing to store or tell: the status is the same, or the event is older than the one that set it.
    Unchanged,
}

impl MerchantOnboarding {
    /// A new onboarding: the merchant's account was just created at the PSP.
    pub fn new(tenant: TenantId, merchant_reference: String, account_id: String) -> Self {
        MerchantOnboarding {
            tenant,
            merchant_reference,
            account_id,
            status: MerchantOnboardingStatus::Incomplete,
            status_source: None,
            version: 0,
        }
    }

    /// Decides what the PSP event `source`, reporting `review`, does to this onboarding. Stripe delivers
    /// events in no particular order; each `account.updated` carries the whole account, so the newest
    /// event wins and an older one never moves the status back.
    pub fn decide(&self, review: &AccountReview, source: StatusSource) -> StatusDecision {
        if let Some(current) = &self.status_source {
            if current.event_id == source.event_id {
                return StatusDecision::AlreadyApplied;
            }
            if source.created < current.created {
                return StatusDecision::Unchanged;
            }
        }
        let status = review.status();
        if status == self.status {
            return StatusDecision::Unchanged;
        }
        StatusDecision::Changed(MerchantOnboarding {
            status,
            status_source: Some(source),
            version: self.version + 1,
            ..self.clone()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use MerchantOnboardingStatus as S;

    /// A submitted, fully enabled account with nothing due.
    const OPEN: AccountReview = AccountReview {
        details_submitted: true,
        charges_enabled: true,
        payouts_enabled: true,
        hold: None,
        past_due: false,
        due_soon: false,
    };

    #[test]
    fn the_status_table() {
        let new = AccountReview {
            details_submitted: false,
            charges_enabled: false,
            payouts_enabled: false,
            due_soon: true,
            ..OPEN
        };
        let submitted = AccountReview {
            charges_enabled: false,
            payouts_enabled: false,
            ..OPEN
        };
        let table = [
            ("fresh account, form not filled", new, S::Incomplete),
            (
                "form not filled, past due",
                AccountReview { past_due: true, ..new },
                S::Incomplete,
            ),
            (
                "form not filled, action required",
                AccountReview {
                    hold: Some(AccountHold::ActionRequired),
                    ..new
                },
                S::Incomplete,
            ),
            (
                "rejected before submitting",
                AccountReview {
                    hold: Some(AccountHold::Rejected),
                    ..new
                },
                S::Rejected,
            ),
            ("submitted, not yet enabled", submitted, S::Pending),
            (
                "submitted, under review",
                AccountReview {
                    hold: Some(AccountHold::UnderReview),
                    ..submitted
                },
                S::Pending,
            ),
            (
                "submitted, held for an action",
                AccountReview {
                    hold: Some(AccountHold::ActionRequired),
                    ..submitted
                },
                S::Restricted,
            ),
            (
                "enabled, past due",
                AccountReview { past_due: true, ..OPEN },
                S::Restricted,
            ),
            (
                "disabled, past due",
                AccountReview {
                    past_due: true,
                    ..submitted
                },
                S::Restricted,
            ),
            (
                "enabled, requirements due",
                AccountReview { due_soon: true, ..OPEN },
                S::RestrictedSoon,
            ),
            (
                "charges only",
                AccountReview {
                    payouts_enabled: false,
                    ..OPEN
                },
                S::Enabled,
            ),
            ("charges and payouts", OPEN, S::Completed),
            (
                "payouts only",
                AccountReview {
                    charges_enabled: false,
                    ..OPEN
                },
                S::Pending,
            ),
            (
                "rejected after being open",
                AccountReview {
                    hold: Some(AccountHold::Rejected),
                    ..OPEN
                },
                S::Rejected,
            ),
        ];
        for (what, review, expected) in table {
            assert_eq!(review.status(), expected, "{what}");
        }
        // Every status of §9.10 is reachable from a PSP report.
        let mut reached: Vec<S> = table.iter().map(|(_, _, s)| *s).collect();
        reached.sort_by_key(|s| format!("{s:?}"));
        reached.dedup();
        assert_eq!(reached.len(), 7);
    }

    fn source(event_id: &str, created: i64) -> StatusSource {
        StatusSource {
            event_id: event_id.into(),
            created,
        }
    }

    #[test]
    fn newer_events_change_older_ones_never_move_back_and_a_redelivery_is_recognised() {
        let start = MerchantOnboarding::new("t1".into(), "MER1".into(), "acct_1".into());
        let submitted = AccountReview {
            charges_enabled: false,
            payouts_enabled: false,
            ..OPEN
        };
        let StatusDecision::Changed(pending) = start.decide(&submitted, source("evt_1", 100)) else {
            panic!("incomplete -> pending is a change");
        };
        assert_eq!(
            (pending.status, pending.version, pending.status_source.clone()),
            (S::Pending, 1, Some(source("evt_1", 100)))
        );
        assert_eq!(
            pending.decide(&OPEN, source("evt_1", 100)),
            StatusDecision::AlreadyApplied
        );
        assert_eq!(
            pending.decide(&submitted, source("evt_2", 101)),
            StatusDecision::Unchanged,
            "same status"
        );
        assert_eq!(
            pending.decide(&OPEN, source("evt_0", 99)),
            StatusDecision::Unchanged,
            "an older event"
        );
        let StatusDecision::Changed(done) = pending.decide(&OPEN, source("evt_3", 100)) else {
            panic!("pending -> completed is a change");
        };
        assert_eq!((done.status, done.version), (S::Completed, 2));
        // The initial state accepts any event, even one older than the account.
        assert!(matches!(
            start.decide(&submitted, source("evt_x", 0)),
            StatusDecision::Changed(_)
        ));
        assert_eq!(
            start.decide(&new_account(), source("evt_y", 1)),
            StatusDecision::Unchanged
        );
    }

    fn new_account() -> AccountReview {
        AccountReview {
            details_submitted: false,
            charges_enabled: false,
            payouts_enabled: false,
            ..OPEN
        }
    }
}
