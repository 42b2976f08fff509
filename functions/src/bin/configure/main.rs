//! The configure Lambda: `POST /private/configure` (contract §5.1): stores the tenant's configuration and
//! secrets, announces its payment methods and AppConfigUpdated.

use functions::tenant_api::TenantEndpoint;
use functions::wiring::run_tenant_function;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    run_tenant_function(TenantEndpoint::Configure).await
}
