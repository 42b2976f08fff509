//! The Spryker ACP wire format (`../shared/spec/acp-contract.md`): messages, the inbound envelope and the
//! outbound event on the bus, the event platform's channel wire, the bodies of the synchronous endpoints, and
//! the AsyncAPI document generated from the message types (with the schema settings every generated document
//! shares).

pub mod asyncapi;
pub mod channel;
pub mod envelope;
pub mod event;
pub mod messages;
pub mod schema;
pub mod sync;

pub use envelope::{EnvelopeError, InboundMessage, parse_record};
pub use event::{BusEvent, EventDetail, MessageAttributes};
pub use messages::*;
