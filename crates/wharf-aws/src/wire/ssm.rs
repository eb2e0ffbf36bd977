//! SSM's GetParameter, the one SSM call wharf makes: a service's secret read as its caller
//! (`wharf run`, drain) and a parameter's existence checked by the preflight.

use serde_json::json;

use super::{Wire, SSM};
use crate::error::AwsError;

/// An SSM client.
#[derive(Debug, Clone)]
pub struct Ssm {
    wire: Wire,
}

impl Ssm {
    pub fn new(config: &aws_config::SdkConfig) -> Ssm {
        Ssm {
            wire: Wire::new(config, SSM),
        }
    }

    /// The parameter's value (decrypted when `decrypt`), `None` when it has none; an error
    /// with code `ParameterNotFound` when there is no such parameter.
    pub async fn get_parameter(
        &self,
        name: &str,
        decrypt: bool,
        what: &str,
    ) -> Result<Option<String>, AwsError> {
        let out = self
            .wire
            .json(
                "AmazonSSM.GetParameter",
                what,
                &json!({ "Name": name, "WithDecryption": decrypt }),
            )
            .await?;
        Ok(out
            .pointer("/Parameter/Value")
            .and_then(|v| v.as_str())
            .map(str::to_owned))
    }
}
