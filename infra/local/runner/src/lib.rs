//! The local stack: template.yaml run on this machine. Resources go to moto, every function runs as its
//! real binary under `cargo lambda watch`, SQS event sources are polled and HTTP routes served (behind
//! the API's JWT authorizer, with the stack as its own token issuer) as Lambda and API Gateway would,
//! localstripe delivers its signed webhooks to the local tenant's route, and `.local/stack.json` says
//! where everything is.

pub mod functions;
pub mod http_api;
pub mod jwt;
pub mod lambda;
pub mod params;
pub mod resources;
pub mod sqs_source;
pub mod stack;
pub mod stack_file;
pub mod template;
