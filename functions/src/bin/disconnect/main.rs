//! The disconnect Lambda: `POST /private/disconnect` (contract §5.2): deletes the tenant's payment methods
//! and tells it the app is inactive.

use functions::tenant_api::TenantEndpoint;
use functions::wiring::run_tenant_function;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    run_tenant_function(TenantEndpoint::Disconnect).await
}
