//! How the EC2 reads travel: the endpoint, the Query API body, SigV4 signing with the
//! configuration's credentials, one request through wharf-http, retries with backoff and
//! jitter on throttling and transient failures, EC2's error document classified.

use std::time::{Duration, SystemTime};

use aws_credential_types::provider::ProvideCredentials;
use http_body_util::Full;
use hyper::body::Bytes;

use super::xml::{read, ErrorDocument, Page};
use super::Ec2;
use crate::error::{AwsError, ErrorKind};

/// The Query API version every call names.
const VERSION: &str = "2016-11-15";
/// One attempt's whole exchange must finish within this.
const ATTEMPT_LIMIT: Duration = Duration::from_secs(30);

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

impl Ec2 {
    /// Every `item` of `set` across the pages of `action`.
    pub(super) async fn paged<P: Page>(
        &self,
        action: &str,
        what: &str,
        params: &[(String, String)],
    ) -> Result<Vec<P::Item>, AwsError> {
        let mut items = Vec::new();
        let mut token: Option<String> = None;
        // A bound on pages, so a service answering the same token forever cannot hold us.
        for _ in 0..100 {
            let mut p = params.to_vec();
            if let Some(t) = &token {
                p.push(("NextToken".into(), t.clone()));
            }
            let text = self.call(action, what, &p).await?;
            let page: P = read(&text).map_err(|e| {
                AwsError::new(
                    what,
                    ErrorKind::Other,
                    format!("an answer wharf cannot read ({e})"),
                )
            })?;
            let (more, next) = page.into_parts();
            items.extend(more);
            token = next;
            if token.is_none() {
                return Ok(items);
            }
        }
        Err(AwsError::new(
            what,
            ErrorKind::Other,
            format!("{action} kept answering another page after 100 pages"),
        ))
    }

    /// One action, retried on throttling and transient failures.
    async fn call(
        &self,
        action: &str,
        what: &str,
        params: &[(String, String)],
    ) -> Result<String, AwsError> {
        let mut body = format!("Action={action}&Version={VERSION}");
        for (k, v) in params {
            body.push('&');
            body.push_str(&encode(k));
            body.push('=');
            body.push_str(&encode(v));
        }
        let mut attempt = 1;
        loop {
            let result = match tokio::time::timeout(ATTEMPT_LIMIT, self.attempt(what, &body)).await
            {
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

    async fn attempt(&self, what: &str, body: &str) -> Result<String, AwsError> {
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
        let content_type = "application/x-www-form-urlencoded; charset=utf-8";
        let headers = [("host", host.as_str()), ("content-type", content_type)];
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("ec2")
            .time(SystemTime::now())
            .settings(aws_sigv4::http_request::SigningSettings::default())
            .build()
            .map_err(|e| AwsError::new(what, ErrorKind::Other, format!("cannot sign: {e}")))?
            .into();
        let signable = aws_sigv4::http_request::SignableRequest::new(
            "POST",
            &url,
            headers.iter().copied(),
            aws_sigv4::http_request::SignableBody::Bytes(body.as_bytes()),
        )
        .map_err(|e| AwsError::new(what, ErrorKind::Other, format!("cannot sign: {e}")))?;
        let (instructions, _) = aws_sigv4::http_request::sign(signable, &params)
            .map_err(|e| AwsError::new(what, ErrorKind::Other, format!("cannot sign: {e}")))?
            .into_parts();
        let mut request = hyper::Request::post(self.endpoint.path.as_str())
            .header("host", &host)
            .header("content-type", content_type)
            .header("user-agent", concat!("wharf/", env!("CARGO_PKG_VERSION")))
            .body(Full::new(Bytes::from(body.to_owned())))
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
        let error = read::<ErrorDocument>(&text)
            .map_err(|e| {
                AwsError::new(
                    what,
                    if status >= 500 {
                        ErrorKind::Transient
                    } else {
                        ErrorKind::Other
                    },
                    format!("HTTP {status}, an answer that is not EC2's error document ({e})"),
                )
            })?
            .error();
        let (code, message) = (error.code, error.message);
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
    fn form_values_are_percent_encoded() {
        assert_eq!(encode("a b/c=d"), "a%20b%2Fc%3Dd");
    }
}
