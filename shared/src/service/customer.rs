//! The express-checkout customer lookup (`POST /private/customer`): after the shopper paid with an
//! express method (Apple Pay, Google Pay), the shop asks who they are and where to ship; [`CustomerLookup`]
//! answers what the PSP collected for the payment.

use crate::ports::customer::{CustomerDetails, PspCustomer};
use crate::ports::{PaymentStore, PspError};

/// Why the customer cannot be answered.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum CustomerError {
    /// The tenant has no such payment.
    #[error("the app has no payment {0}")]
    UnknownPayment(String),
    /// The PSP has not collected anything about the shopper yet (nobody paid).
    #[error("the PSP has not collected the customer's details of payment {0} yet")]
    NotCollected(String),
    /// The store or the PSP is unavailable: retry later.
    #[error("temporarily unavailable: {0}")]
    Unavailable(String),
}

/// Answers the shopper of a payment.
pub struct CustomerLookup<'a, S, G> {
    /// The payments.
    pub store: &'a S,
    /// The PSP.
    pub psp: &'a G,
}

impl<S: PaymentStore, G: CustomerDetails> CustomerLookup<'_, S, G> {
    /// What the PSP collected about the shopper of `tenant`'s payment `transaction_id`.
    pub async fn customer(&self, tenant: &str, transaction_id: &str) -> Result<PspCustomer, CustomerError> {
        let payment = self
            .store
            .get_payment(tenant, transaction_id)
            .await
            .map_err(|e| CustomerError::Unavailable(e.to_string()))?
            .ok_or_else(|| CustomerError::UnknownPayment(transaction_id.to_string()))?;
        let customer = self
            .psp
            .customer_details(tenant, &payment.psp_reference)
            .await
            .map_err(|e| match e {
                PspError::Declined { .. } | PspError::Unknown(_) => CustomerError::Unavailable(e.to_string()),
            })?;
        if customer.is_empty() {
            return Err(CustomerError::NotCollected(transaction_id.to_string()));
        }
        Ok(customer)
    }
}
