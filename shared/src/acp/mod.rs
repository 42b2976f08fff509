//! The Spryker ACP wire format (`../shared/spec/acp-contract.md`): messages, the inbound envelope and the
//! outbound event on the bus.

pub mod envelope;
pub mod event;
pub mod messages;

pub use envelope::{EnvelopeError, InboundMessage, parse_record};
pub use event::{BusEvent, EventDetail, MessageAttributes};
pub use messages::*;
