//! One smoke check, the same on every target: a request through the environment's entrance
//! (wharf's proxy, the load balancer) carrying the service's test header, so the test route
//! sends it to the new deployment; the status and, when asked, a piece of the body compared.
//! A target supplies only where to connect, the Host to name and, over TLS, the server name.

use wharf_http::{Endpoint, Limits};
use wharf_manifest::{Service, SmokeCheck};

use crate::target::TargetError;

/// Runs `check` of `service` against `endpoint`, naming `host`. `entrance` names what the
/// request goes through in messages.
pub async fn smoke_check(
    endpoint: &Endpoint,
    host: &str,
    entrance: &str,
    service: &Service,
    check: &SmokeCheck,
) -> Result<(), TargetError> {
    let path = check.path.replace('*', "");
    let what = format!("{} {path} through {entrance}", check.method);
    let header = service.deploy.blue_green.test_header.as_str();
    let fail = |e: String| TargetError::new(format!("{what}: {e}"));
    let request = wharf_http::request(&check.method, &path, host, &[(header, "1")])
        .map_err(|e| fail(e.to_string()))?;
    let answer = wharf_http::send(endpoint, request, Limits::default())
        .await
        .map_err(|e| fail(e.to_string()))?;
    if answer.status != check.status {
        return Err(TargetError::new(format!(
            "{what} answered {}, expected {}",
            answer.status, check.status
        )));
    }
    if let Some(want) = &check.body_contains {
        if !answer.text().contains(want.as_str()) {
            return Err(fail(format!("the body does not contain {want:?}")));
        }
    }
    Ok(())
}
