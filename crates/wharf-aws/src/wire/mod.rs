//! Signed requests to the AWS APIs whose SDK crates wharf does not build, for the few calls it
//! makes of each: EC2's four preflight reads and RDS's DescribeDBInstances (the Query API, XML
//! answers), SSM's GetParameter (JSON). Each of `aws-sdk-ec2`, `aws-sdk-rds` and `aws-sdk-ssm`
//! takes minutes to build on two cores, more than the rest of wharf together (measured in
//! the README under "Speed"). A request here: the API's endpoint (`AWS_ENDPOINT_URL_<API>`,
//! then the configuration's endpoint override, then the regional one), SigV4 with the
//! configuration's credentials, one exchange through wharf-http, retries with backoff and
//! jitter on throttling and transient failures as the SDK's standard mode does, and the API's
//! error document classified.

pub mod rds;
pub mod ssm;

use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_credential_types::provider::ProvideCredentials;
use http_body_util::Full;
use hyper::body::Bytes;
use serde::Deserialize;

use crate::error::{AwsError, ErrorKind};

/// One attempt's whole exchange must finish within this.
const ATTEMPT_LIMIT: Duration = Duration::from_secs(30);

/// An API reached by hand: its signing name (also its endpoint's first label) and how its
/// answers are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Api {
    pub name: &'static str,
    /// The variable that overrides its endpoint (`AWS_ENDPOINT_URL_EC2`).
    pub endpoint_var: &'static str,
}

pub(crate) const EC2: Api = Api {
    name: "ec2",
    endpoint_var: "AWS_ENDPOINT_URL_EC2",
};
pub(crate) const RDS: Api = Api {
    name: "rds",
    endpoint_var: "AWS_ENDPOINT_URL_RDS",
};
pub(crate) const SSM: Api = Api {
    name: "ssm",
    endpoint_var: "AWS_ENDPOINT_URL_SSM",
};

/// A client of one API for a configuration's region, credentials and endpoint.
#[derive(Debug, Clone)]
pub(crate) struct Wire {
    config: SdkConfig,
    endpoint: Endpoint,
    region: String,
    max_attempts: u32,
    api: Api,
}

/// A request's body and how the API is told what it is.
struct Body<'a> {
    text: String,
    content_type: &'static str,
    /// `X-Amz-Target`, for the JSON APIs.
    target: Option<&'a str>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    pub(crate) https: bool,
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) path: String,
}

impl Endpoint {
    /// `http(s)://host[:port][/path]`.
    pub(crate) fn parse(url: &str) -> Option<Endpoint> {
        let (https, rest) = if let Some(r) = url.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = url.strip_prefix("http://") {
            (false, r)
        } else {
            return None;
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), p.parse().ok()?),
            None => (authority.to_owned(), if https { 443 } else { 80 }),
        };
        if host.is_empty() {
            return None;
        }
        Some(Endpoint {
            https,
            host,
            port,
            path: if path.is_empty() {
                "/".into()
            } else {
                path.into()
            },
        })
    }

    fn url(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}{}", self.host_header(), self.path)
    }

    fn host_header(&self) -> String {
        let default = if self.https { 443 } else { 80 };
        if self.port == default {
            self.host.clone()
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl Wire {
    pub(crate) fn new(config: &SdkConfig, api: Api) -> Wire {
        let region = config
            .region()
            .map_or_else(|| "us-east-1".to_owned(), |r| r.to_string());
        let endpoint = std::env::var(api.endpoint_var)
            .ok()
            .and_then(|u| Endpoint::parse(&u))
            .or_else(|| config.endpoint_url().and_then(Endpoint::parse))
            .unwrap_or_else(|| Endpoint {
                https: true,
                host: if region.starts_with("cn-") {
                    format!("{}.{region}.amazonaws.com.cn", api.name)
                } else {
                    format!("{}.{region}.amazonaws.com", api.name)
                },
                port: 443,
                path: "/".into(),
            });
        let max_attempts = config.retry_config().map_or(3, |r| r.max_attempts()).max(1);
        Wire {
            config: config.clone(),
            endpoint,
            region,
            max_attempts,
            api,
        }
    }

    /// A Query API action (`Action=…&Version=…&params`): its XML answer.
    pub(crate) async fn query(
        &self,
        action: &str,
        version: &str,
        what: &str,
        params: &[(String, String)],
    ) -> Result<String, AwsError> {
        let mut text = format!("Action={action}&Version={version}");
        for (k, v) in params {
            text.push('&');
            text.push_str(&encode(k));
            text.push('=');
            text.push_str(&encode(v));
        }
        let body = Body {
            text,
            content_type: "application/x-www-form-urlencoded; charset=utf-8",
            target: None,
        };
        self.call(what, &body).await
    }

    /// A JSON API operation (`X-Amz-Target: target`): its JSON answer.
    pub(crate) async fn json(
        &self,
        target: &str,
        what: &str,
        input: &serde_json::Value,
    ) -> Result<serde_json::Value, AwsError> {
        let body = Body {
            text: input.to_string(),
            content_type: "application/x-amz-json-1.1",
            target: Some(target),
        };
        let text = self.call(what, &body).await?;
        serde_json::from_str(&text).map_err(|e| {
            AwsError::new(
                what,
                ErrorKind::Other,
                format!("an answer wharf cannot read ({e})"),
            )
        })
    }

    /// One request, retried on throttling and transient failures.
    async fn call(&self, what: &str, body: &Body<'_>) -> Result<String, AwsError> {
        let mut attempt = 1;
        loop {
            let result = match tokio::time::timeout(ATTEMPT_LIMIT, self.attempt(what, body)).await {
                Ok(r) => r,
                Err(_) => Err(AwsError::new(
                    what,
                    ErrorKind::Unreachable,
                    format!(
                        "{} did not answer within {}s",
                        self.endpoint.url(),
                        ATTEMPT_LIMIT.as_secs()
                    ),
                )),
            };
            match result {
                Err(e) if e.kind.is_transient() && attempt < self.max_attempts => {
                    tokio::time::sleep(backoff(attempt)).await;
                    attempt += 1;
                }
                r => return r,
            }
        }
    }

    async fn attempt(&self, what: &str, body: &Body<'_>) -> Result<String, AwsError> {
        let provider = self.config.credentials_provider().ok_or_else(|| {
            AwsError::new(
                what,
                ErrorKind::Credentials,
                "no credentials provider is configured",
            )
        })?;
        let creds = provider.provide_credentials().await.map_err(|e| {
            AwsError::new(what, ErrorKind::Credentials, format!("no credentials: {e}"))
        })?;
        let identity = creds.into();
        let url = self.endpoint.url();
        let host = self.endpoint.host_header();
        let mut headers = vec![("host", host.as_str()), ("content-type", body.content_type)];
        if let Some(t) = body.target {
            headers.push(("x-amz-target", t));
        }
        let cannot_sign =
            |e: String| AwsError::new(what, ErrorKind::Other, format!("cannot sign: {e}"));
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(self.api.name)
            .time(SystemTime::now())
            .settings(aws_sigv4::http_request::SigningSettings::default())
            .build()
            .map_err(|e| cannot_sign(e.to_string()))?
            .into();
        let signable = aws_sigv4::http_request::SignableRequest::new(
            "POST",
            &url,
            headers.iter().copied(),
            aws_sigv4::http_request::SignableBody::Bytes(body.text.as_bytes()),
        )
        .map_err(|e| cannot_sign(e.to_string()))?;
        let (instructions, _) = aws_sigv4::http_request::sign(signable, &params)
            .map_err(|e| cannot_sign(e.to_string()))?
            .into_parts();
        let mut request = hyper::Request::post(self.endpoint.path.as_str());
        for (k, v) in &headers {
            request = request.header(*k, *v);
        }
        let mut request = request
            .header("user-agent", concat!("wharf/", env!("CARGO_PKG_VERSION")))
            .body(Full::new(Bytes::from(body.text.clone())))
            .map_err(|e| AwsError::new(what, ErrorKind::Other, e.to_string()))?;
        instructions.apply_to_request_http1x(&mut request);
        let unreachable =
            |e: String| AwsError::new(what, ErrorKind::Unreachable, format!("{url}: {e}"));
        let endpoint = wharf_http::Endpoint {
            host: self.endpoint.host.clone(),
            port: self.endpoint.port,
            tls_name: self.endpoint.https.then(|| self.endpoint.host.clone()),
        };
        let limits = wharf_http::Limits {
            timeout: ATTEMPT_LIMIT,
            max_body: 16 << 20,
        };
        let answer = wharf_http::send(&endpoint, request, limits)
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        let (status, text) = (answer.status, answer.text());
        if (200..300).contains(&status) {
            return Ok(text);
        }
        let (code, message) = if body.target.is_some() {
            json_error(&text)
        } else {
            xml_error(&text)
        }
        .ok_or_else(|| {
            AwsError::new(
                what,
                if status >= 500 {
                    ErrorKind::Transient
                } else {
                    ErrorKind::Other
                },
                format!(
                    "HTTP {status}, an answer that is not {}'s error document",
                    self.api.name
                ),
            )
        })?;
        let kind = if code.is_empty() && status >= 500 {
            ErrorKind::Transient
        } else {
            ErrorKind::from_code(&code)
        };
        Err(AwsError {
            action: what.to_owned(),
            kind,
            code: Some(code.clone()).filter(|c| !c.is_empty()),
            message: if message.is_empty() {
                format!("HTTP {status} {code}")
            } else {
                message
            },
        })
    }
}

/// Reads an XML document into `T`.
pub(crate) fn read<T: serde::de::DeserializeOwned>(xml: &str) -> Result<T, String> {
    quick_xml::de::from_str(xml).map_err(|e| e.to_string())
}

/// The Query APIs' error document: `<Response><Errors><Error><Code/><Message/></Error></Errors>`
/// (EC2), or the `Error` directly under the root (`<ErrorResponse>`, RDS).
#[derive(Debug, Default, Deserialize)]
struct ErrorDocument {
    #[serde(rename = "Errors")]
    errors: Option<Errors>,
    #[serde(rename = "Error")]
    error: Option<ErrorBody>,
}

#[derive(Debug, Default, Deserialize)]
struct Errors {
    #[serde(rename = "Error")]
    error: Option<ErrorBody>,
}

#[derive(Debug, Default, Clone, Deserialize)]
struct ErrorBody {
    #[serde(rename = "Code", default)]
    code: String,
    #[serde(rename = "Message", default)]
    message: String,
}

/// Code and message of a Query API error document.
fn xml_error(text: &str) -> Option<(String, String)> {
    let doc = read::<ErrorDocument>(text).ok()?;
    let e = doc.errors.and_then(|e| e.error).or(doc.error)?;
    Some((e.code, e.message))
}

/// Code and message of a JSON API error: `{"__type": "[namespace#]Code", "message": …}`.
fn json_error(text: &str) -> Option<(String, String)> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    let kind = v.get("__type")?.as_str()?;
    let code = kind.rsplit_once('#').map_or(kind, |(_, c)| c);
    let code = code.split_once(':').map_or(code, |(c, _)| c);
    let message = ["message", "Message"]
        .iter()
        .find_map(|k| v.get(*k).and_then(|m| m.as_str()))
        .unwrap_or_default();
    Some((code.to_owned(), message.to_owned()))
}

/// `base * 2^(attempt-1)`, capped, with full jitter.
fn backoff(attempt: u32) -> Duration {
    let cap = Duration::from_secs(20);
    let exp = Duration::from_millis(200)
        .saturating_mul(1 << attempt.saturating_sub(1).min(10))
        .min(cap);
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    exp.mul_f64(f64::from(nanos % 1000) / 1000.0)
}
/// Percent-encoding of a form value: every byte but RFC 3986's unreserved ones.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse_with_and_without_ports() {
        let e = Endpoint::parse("http://127.0.0.1:5000").unwrap();
        assert_eq!(
            (e.https, e.host.as_str(), e.port, e.path.as_str()),
            (false, "127.0.0.1", 5000, "/")
        );
        assert_eq!(e.url(), "http://127.0.0.1:5000/");
        let e = Endpoint::parse("https://ec2.eu-west-1.amazonaws.com/").unwrap();
        assert_eq!(
            (e.port, e.host_header().as_str()),
            (443, "ec2.eu-west-1.amazonaws.com")
        );
        assert!(Endpoint::parse("ec2.amazonaws.com").is_none());
    }

    #[test]
    fn error_documents_of_both_encodings_read() {
        let ec2 = "<Response><Errors><Error><Code>UnauthorizedOperation</Code><Message>no</Message></Error></Errors><RequestID>1</RequestID></Response>";
        assert_eq!(
            xml_error(ec2),
            Some(("UnauthorizedOperation".into(), "no".into()))
        );
        let rds = "<ErrorResponse xmlns=\"http://rds.amazonaws.com/doc/2014-10-31/\"><Error><Type>Sender</Type><Code>DBInstanceNotFound</Code><Message>DBInstance db1 not found.</Message></Error><RequestId>2</RequestId></ErrorResponse>";
        assert_eq!(
            xml_error(rds),
            Some((
                "DBInstanceNotFound".into(),
                "DBInstance db1 not found.".into()
            ))
        );
        let ssm = r#"{"__type":"com.amazonaws.ssm#ParameterNotFound","message":"gone"}"#;
        assert_eq!(
            json_error(ssm),
            Some(("ParameterNotFound".into(), "gone".into()))
        );
        assert_eq!(
            json_error(r#"{"__type":"ThrottlingException:http://x","Message":"slow"}"#),
            Some(("ThrottlingException".into(), "slow".into()))
        );
        assert_eq!(json_error("<html>"), None);
        assert_eq!(xml_error("{}"), None);
    }

    #[test]
    fn form_values_are_percent_encoded() {
        assert_eq!(encode("a b/c=d"), "a%20b%2Fc%3Dd");
    }
}
