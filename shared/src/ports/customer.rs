//! The shopper as the PSP knows them: what an express checkout (Apple Pay, Google Pay, Stripe's Express
//! Checkout Element) collected, read back for the shop (`POST /private/customer`).

use super::gateway::PspError;
use std::future::Future;

/// A postal address the PSP collected.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PspAddress {
    /// The addressee's full name.
    pub name: Option<String>,
    /// A phone number given with the address.
    pub phone: Option<String>,
    /// First address line.
    pub line1: Option<String>,
    /// Second address line.
    pub line2: Option<String>,
    /// City.
    pub city: Option<String>,
    /// Postal code.
    pub postal_code: Option<String>,
    /// State, county or region.
    pub state: Option<String>,
    /// ISO 3166-1 alpha-2 country code.
    pub country: Option<String>,
}

/// What the PSP collected about the shopper of one payment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PspCustomer {
    /// The shopper's email.
    pub email: Option<String>,
    /// The shopper's phone.
    pub phone: Option<String>,
    /// Where to ship.
    pub shipping: Option<PspAddress>,
    /// The payment method's billing details.
    pub billing: Option<PspAddress>,
}

impl PspCustomer {
    /// Whether the PSP has collected nothing yet.
    pub fn is_empty(&self) -> bool {
        self == &PspCustomer::default()
    }
}

/// Reads what the PSP collected about a payment's shopper.
pub trait CustomerDetails: Send + Sync {
    /// The shopper of `tenant`'s payment `psp_reference` (`pi_…`).
    fn customer_details(
        &self,
        tenant: &str,
        psp_reference: &str,
    ) -> impl Future<Output = Result<PspCustomer, PspError>> + Send;
}
