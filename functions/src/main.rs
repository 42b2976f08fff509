//! The one binary of every function (`app`): `APP_FUNCTION`, set on each function in template.yaml, says
//! which handler this process serves; [`Function::run`] builds its clients once and runs the Lambda runtime.

// The handlers' futures (lambda_runtime's layers, the telemetry wrapper, the SDK's calls) nest deeper than
// the compiler's default layout-query depth of 128.
#![recursion_limit = "256"]

use functions::wiring::Function;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    Function::from_env()?.run().await
}
