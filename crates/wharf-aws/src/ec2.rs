//! The four EC2 reads the preflight makes (route tables, NAT gateways, VPC endpoints, security
//! groups) as SigV4-signed Query API requests over the SDK configuration's credentials, region
//! and endpoint. `aws-sdk-ec2` is not a dependency: its build alone takes minutes on two cores,
//! for four read-only calls. Throttling and transient failures are retried with exponential
//! backoff and jitter, like the SDK's standard mode; errors carry EC2's code, classified.

use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_credential_types::provider::ProvideCredentials;
use http_body_util::Full;
use hyper::body::Bytes;
use serde::Serialize;

use crate::error::{AwsError, ErrorKind};

/// The Query API version every call names.
const VERSION: &str = "2016-11-15";
/// One attempt's whole exchange must finish within this.
const ATTEMPT_LIMIT: Duration = Duration::from_secs(30);

/// An EC2 client for the reads below.
#[derive(Debug, Clone)]
pub struct Ec2 {
    config: SdkConfig,
    endpoint: Endpoint,
    region: String,
    max_attempts: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Endpoint {
    https: bool,
    host: String,
    port: u16,
    path: String,
}

impl Endpoint {
    /// `http(s)://host[:port][/path]`.
    fn parse(url: &str) -> Option<Endpoint> {
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

/// A route table and what it routes.
#[derive(Debug, Clone, Serialize)]
pub struct RouteTable {
    pub id: String,
    /// The VPC's main table (used by subnets with no explicit association).
    pub main: bool,
    pub subnets: Vec<String>,
    pub routes: Vec<Route>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Route {
    /// A CIDR block, or a prefix list (`pl-…`) for gateway endpoints.
    pub destination: String,
    /// `nat-…`, `igw-…`, `vpce-…`, `local`, …
    pub target: String,
    /// `active` or `blackhole` (its target is gone).
    pub state: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct NatGateway {
    pub id: String,
    pub state: String,
    pub subnet: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct VpcEndpoint {
    pub id: String,
    /// `com.amazonaws.REGION.ecr.dkr`, …
    pub service: String,
    /// `Interface` or `Gateway`.
    pub kind: String,
    /// `available`, `pending`, `deleted`, …
    pub state: String,
    pub route_tables: Vec<String>,
    pub subnets: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SecurityGroup {
    pub id: String,
    pub ingress: Vec<Permission>,
    pub egress: Vec<Permission>,
}

/// One rule of a security group.
#[derive(Debug, Clone, Serialize)]
pub struct Permission {
    /// `tcp`, `udp`, `icmp` or `-1` (everything).
    pub protocol: String,
    pub from_port: Option<i64>,
    pub to_port: Option<i64>,
    pub groups: Vec<String>,
    pub cidrs: Vec<String>,
}

impl Permission {
    /// Whether this rule lets TCP on `port` through.
    pub fn allows_tcp(&self, port: u16) -> bool {
        match self.protocol.as_str() {
            "-1" => true,
            "tcp" | "6" => {
                let p = i64::from(port);
                self.from_port.is_none_or(|f| f <= p) && self.to_port.is_none_or(|t| p <= t)
            }
            _ => false,
        }
    }
}

impl Ec2 {
    /// A client for `config`'s region, credentials and endpoint (`AWS_ENDPOINT_URL_EC2`, then
    /// the configuration's endpoint override, then EC2's regional endpoint).
    pub fn new(config: &SdkConfig) -> Ec2 {
        let region = config
            .region()
            .map_or_else(|| "us-east-1".to_owned(), |r| r.to_string());
        let endpoint = std::env::var("AWS_ENDPOINT_URL_EC2")
            .ok()
            .and_then(|u| Endpoint::parse(&u))
            .or_else(|| config.endpoint_url().and_then(Endpoint::parse))
            .unwrap_or_else(|| Endpoint {
                https: true,
                host: if region.starts_with("cn-") {
                    format!("ec2.{region}.amazonaws.com.cn")
                } else {
                    format!("ec2.{region}.amazonaws.com")
                },
                port: 443,
                path: "/".into(),
            });
        let max_attempts = config.retry_config().map_or(3, |r| r.max_attempts()).max(1);
        Ec2 {
            config: config.clone(),
            endpoint,
            region,
            max_attempts,
        }
    }

    /// Every route table of `vpc`.
    pub async fn route_tables(&self, vpc: &str) -> Result<Vec<RouteTable>, AwsError> {
        let items = self
            .paged(
                "DescribeRouteTables",
                "list the route tables of the VPC (ec2:DescribeRouteTables)",
                &vpc_filter(vpc),
                "routeTableSet",
            )
            .await?;
        Ok(items
            .iter()
            .map(|t| RouteTable {
                id: t.text("routeTableId"),
                main: t.items("associationSet").any(|a| a.text("main") == "true"),
                subnets: t
                    .items("associationSet")
                    .map(|a| a.text("subnetId"))
                    .filter(|s| !s.is_empty())
                    .collect(),
                routes: t
                    .items("routeSet")
                    .map(|r| Route {
                        destination: first_of(
                            r,
                            &[
                                "destinationCidrBlock",
                                "destinationIpv6CidrBlock",
                                "destinationPrefixListId",
                            ],
                        ),
                        target: first_of(
                            r,
                            &[
                                "natGatewayId",
                                "gatewayId",
                                "transitGatewayId",
                                "instanceId",
                                "networkInterfaceId",
                                "vpcPeeringConnectionId",
                            ],
                        ),
                        state: r.text("state"),
                    })
                    .collect(),
            })
            .collect())
    }

    /// Every NAT gateway of `vpc`, in any state.
    pub async fn nat_gateways(&self, vpc: &str) -> Result<Vec<NatGateway>, AwsError> {
        let items = self
            .paged(
                "DescribeNatGateways",
                "list the NAT gateways of the VPC (ec2:DescribeNatGateways)",
                &vpc_filter(vpc),
                "natGatewaySet",
            )
            .await?;
        Ok(items
            .iter()
            .map(|n| NatGateway {
                id: n.text("natGatewayId"),
                state: n.text("state"),
                subnet: n.text("subnetId"),
            })
            .collect())
    }

    /// Every VPC endpoint of `vpc`.
    pub async fn vpc_endpoints(&self, vpc: &str) -> Result<Vec<VpcEndpoint>, AwsError> {
        let items = self
            .paged(
                "DescribeVpcEndpoints",
                "list the VPC endpoints of the VPC (ec2:DescribeVpcEndpoints)",
                &vpc_filter(vpc),
                "vpcEndpointSet",
            )
            .await?;
        Ok(items
            .iter()
            .map(|e| VpcEndpoint {
                id: e.text("vpcEndpointId"),
                service: e.text("serviceName"),
                kind: e.text("vpcEndpointType"),
                state: e.text("state").to_lowercase(),
                route_tables: e.items("routeTableIdSet").map(|i| i.text.clone()).collect(),
                subnets: e.items("subnetIdSet").map(|i| i.text.clone()).collect(),
            })
            .collect())
    }

    /// The security groups `ids`, with their rules.
    pub async fn security_groups(&self, ids: &[&str]) -> Result<Vec<SecurityGroup>, AwsError> {
        let params: Vec<(String, String)> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| (format!("GroupId.{}", i + 1), (*id).to_owned()))
            .collect();
        let items = self
            .paged(
                "DescribeSecurityGroups",
                "read the security groups (ec2:DescribeSecurityGroups)",
                &params,
                "securityGroupInfo",
            )
            .await?;
        let perms = |n: &Node, set: &str| -> Vec<Permission> {
            n.items(set)
                .map(|p| Permission {
                    protocol: p.text("ipProtocol"),
                    from_port: p.text("fromPort").parse().ok(),
                    to_port: p.text("toPort").parse().ok(),
                    groups: p.items("groups").map(|g| g.text("groupId")).collect(),
                    cidrs: p.items("ipRanges").map(|r| r.text("cidrIp")).collect(),
                })
                .collect()
        };
        Ok(items
            .iter()
            .map(|g| SecurityGroup {
                id: g.text("groupId"),
                ingress: perms(g, "ipPermissions"),
                egress: perms(g, "ipPermissionsEgress"),
            })
            .collect())
    }

    /// Every `item` of `set` across the pages of `action`.
    async fn paged(
        &self,
        action: &str,
        what: &str,
        params: &[(String, String)],
        set: &str,
    ) -> Result<Vec<Node>, AwsError> {
        let mut items = Vec::new();
        let mut token: Option<String> = None;
        // A bound on pages, so a service answering the same token forever cannot hold us.
        for _ in 0..100 {
            let mut p = params.to_vec();
            if let Some(t) = &token {
                p.push(("NextToken".into(), t.clone()));
            }
            let mut root = self.call(action, what, &p).await?;
            if let Some(i) = root.children.iter().position(|c| c.name == set) {
                let node = root.children.swap_remove(i);
                items.extend(node.children.into_iter().filter(|c| c.name == "item"));
            }
            token = Some(root.text("nextToken")).filter(|t| !t.is_empty());
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
    ) -> Result<Node, AwsError> {
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

    async fn attempt(&self, what: &str, body: &str) -> Result<Node, AwsError> {
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
        // The SDK's own attempt timeout: a minute per call.
        let limits = wharf_http::Limits {
            timeout: Duration::from_secs(60),
            max_body: 16 << 20,
        };
        let answer = wharf_http::send(&endpoint, request, limits)
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        let (status, bytes) = (answer.status, answer.body);
        let text = String::from_utf8_lossy(&bytes);
        let root = parse(&text).map_err(|e| {
            AwsError::new(
                what,
                if status >= 500 {
                    ErrorKind::Transient
                } else {
                    ErrorKind::Other
                },
                format!("HTTP {status}, an answer that is not XML ({e})"),
            )
        })?;
        if (200..300).contains(&status) {
            return Ok(root);
        }
        // <Response><Errors><Error><Code/><Message/></Error></Errors><RequestID/></Response>
        let error = root
            .child("Errors")
            .and_then(|e| e.child("Error"))
            .or_else(|| root.child("Error"));
        let code = error.map(|e| e.text("Code")).unwrap_or_default();
        let message = error.map(|e| e.text("Message")).unwrap_or_default();
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

fn vpc_filter(vpc: &str) -> Vec<(String, String)> {
    vec![
        ("Filter.1.Name".into(), "vpc-id".into()),
        ("Filter.1.Value.1".into(), vpc.into()),
    ]
}

fn first_of(n: &Node, names: &[&str]) -> String {
    names
        .iter()
        .map(|k| n.text(k))
        .find(|v| !v.is_empty())
        .unwrap_or_default()
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

/// An XML element: its name (without prefix), its text, its children in order.
#[derive(Debug, Default, Clone)]
pub(crate) struct Node {
    name: String,
    text: String,
    children: Vec<Node>,
}

impl Node {
    fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }

    /// The text of the child `name`, or "".
    fn text(&self, name: &str) -> String {
        self.child(name)
            .map(|c| c.text.trim().to_owned())
            .unwrap_or_default()
    }

    /// The `item`s of the child list `set`.
    fn items<'a>(&'a self, set: &str) -> impl Iterator<Item = &'a Node> + 'a {
        self.child(set)
            .into_iter()
            .flat_map(|s| s.children.iter().filter(|c| c.name == "item"))
    }
}

/// Parses a document into its root element.
pub(crate) fn parse(xml: &str) -> Result<Node, String> {
    use xmlparser::{ElementEnd, Token, Tokenizer};
    let mut stack: Vec<Node> = Vec::new();
    let mut root: Option<Node> = None;
    for token in Tokenizer::from(xml) {
        match token.map_err(|e| e.to_string())? {
            Token::ElementStart { local, .. } => stack.push(Node {
                name: local.as_str().to_owned(),
                ..Node::default()
            }),
            Token::ElementEnd { end, .. } => match end {
                ElementEnd::Open => {}
                ElementEnd::Close(..) | ElementEnd::Empty => {
                    let done = stack.pop().ok_or("an end tag with no start")?;
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(done),
                        None => root = Some(done),
                    }
                }
            },
            Token::Text { text } => {
                if let Some(n) = stack.last_mut() {
                    n.text.push_str(&unescape(text.as_str()));
                }
            }
            Token::Cdata { text, .. } => {
                if let Some(n) = stack.last_mut() {
                    n.text.push_str(text.as_str());
                }
            }
            _ => {}
        }
    }
    root.ok_or_else(|| "no root element".to_owned())
}

fn unescape(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
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
    fn documents_become_trees_with_entities_decoded() {
        let n = parse(r#"<?xml version="1.0"?><R xmlns="x"><a>1 &amp; 2</a><set><item><b>x</b></item><item><b/></item></set></R>"#).unwrap();
        assert_eq!(n.name, "R");
        assert_eq!(n.text("a"), "1 & 2");
        assert_eq!(n.items("set").count(), 2);
        assert_eq!(n.items("set").next().unwrap().text("b"), "x");
    }

    #[test]
    fn rules_allow_ports_in_their_range() {
        let p = |proto: &str, f, t| Permission {
            protocol: proto.into(),
            from_port: f,
            to_port: t,
            groups: vec![],
            cidrs: vec![],
        };
        assert!(p("tcp", Some(8080), Some(8080)).allows_tcp(8080));
        assert!(!p("tcp", Some(80), Some(80)).allows_tcp(8080));
        assert!(p("-1", None, None).allows_tcp(8080));
        assert!(!p("udp", Some(0), Some(65535)).allows_tcp(8080));
    }

    #[test]
    fn form_values_are_percent_encoded() {
        assert_eq!(encode("a b/c=d"), "a%20b%2Fc%3Dd");
    }
}
