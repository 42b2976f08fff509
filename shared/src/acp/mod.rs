//! The Spryker ACP wire format (`../shared/spec/acp-contract.md`): messages, the inbound envelope and the
//! outbound event on the bus, the event platform's channel wire, and the bodies of the synchronous endpoints.

pub mod channel;
pub mod envelope;
pub mod event;
pub mod messages;
pub mod sync;

pub use envelope::{EnvelopeError, InboundMessage, parse_record};
pub use event::{BusEvent, EventDetail, MessageAttributes};
pub use messages::*;
