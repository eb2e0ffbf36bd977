//! Resource names, one table for every target and several services per app:
//! names that must be unique in an account carry the app, per-deployment names carry the service
//! and the deployment id `{env}-{YYYYMMDD-HHMMSS}Z`.

use std::fmt::Write as _;

/// Length of the `-YYYYMMDD-HHMMSSZ` suffix of a deployment id.
pub const DEPLOYMENT_SUFFIX_LEN: usize = 17;
/// AWS's limit for target-group and load-balancer names.
pub const ELB_NAME_MAX: usize = 32;
/// First rule priority of service block `p` is `p * RULE_BLOCK`; its base rule is the block's last.
pub const RULE_BLOCK: u32 = 100;

/// The names of one app's resources in one environment.
#[derive(Debug, Clone, Copy)]
pub struct Names<'a> {
    pub app: &'a str,
    pub env: &'a str,
}

impl<'a> Names<'a> {
    pub fn new(app: &'a str, env: &'a str) -> Self {
        Names { app, env }
    }

    pub fn baseline_stack(&self) -> String {
        format!("{}-{}-baseline", self.app, self.env)
    }

    pub fn data_stack(&self) -> String {
        format!("{}-{}-data", self.app, self.env)
    }

    pub fn edge_stack(&self) -> String {
        format!("{}-{}-edge", self.app, self.env)
    }

    pub fn cluster(&self) -> String {
        format!("{}-{}", self.app, self.env)
    }

    pub fn load_balancer(&self) -> String {
        format!("{}-{}-alb", self.app, self.env)
    }

    /// The internal load balancer (internal services only).
    pub fn internal_load_balancer(&self) -> String {
        format!("{}-{}-int", self.app, self.env)
    }

    pub fn repository(&self, service: &str) -> String {
        format!("{}/{}/{}", self.app, self.env, service)
    }

    pub fn log_group(&self, service: &str) -> String {
        format!("/aws/{}/{}/{}", self.app, self.env, service)
    }

    pub fn task_family(&self, service: &str) -> String {
        format!("{}-{}-{}", self.app, self.env, service)
    }

    pub fn execution_role(&self) -> String {
        format!("{}-{}-execution", self.app, self.env)
    }

    /// The role EventBridge Scheduler runs a scheduled job with.
    pub fn schedule_role(&self, job: &str) -> String {
        format!("{}-{}-{job}-schedule", self.app, self.env)
    }

    pub fn task_role(&self, service: &str) -> String {
        format!("{}-{}-{}-task", self.app, self.env, service)
    }

    pub fn state_table(&self) -> String {
        format!("{}-{}-wharf", self.app, self.env)
    }

    /// `{env}-{YYYYMMDD-HHMMSS}Z` for a time in seconds since the Unix epoch (UTC).
    pub fn deployment_id(&self, unix_secs: i64) -> String {
        let (y, mo, d, h, mi, s) = civil(unix_secs);
        format!("{}-{y:04}{mo:02}{d:02}-{h:02}{mi:02}{s:02}Z", self.env)
    }

    /// The deployment id's shape, for plans made before there is one.
    pub fn deployment_id_pattern(&self) -> String {
        format!("{}-YYYYMMDD-HHMMSSZ", self.env)
    }

    /// Target group of a deployment: `{service}-{deployment_id}` (max 32 characters).
    pub fn target_group(&self, service: &str, deployment_id: &str) -> String {
        format!("{service}-{deployment_id}")
    }

    /// Length every target-group name of `service` will have.
    pub fn target_group_len(&self, service: &str) -> usize {
        service.len() + 1 + self.env.len() + DEPLOYMENT_SUFFIX_LEN
    }

    /// ECS service of a deployment (unique within the environment's cluster).
    pub fn ecs_service(&self, service: &str, deployment_id: &str) -> String {
        format!("{service}-{deployment_id}")
    }

    /// ECS service of a rolling service, which keeps one ECS service across deployments.
    pub fn rolling_ecs_service(&self, service: &str) -> String {
        service.to_owned()
    }

    /// Target group of a rolling service (one, reused by every deployment).
    pub fn rolling_target_group(&self, service: &str) -> String {
        format!("{}-{}-{}", self.app, self.env, service)
    }

    /// Image tag of a deployment: the deployment id.
    pub fn image_tag(&self, deployment_id: &str) -> String {
        deployment_id.to_owned()
    }

    /// Docker container of a deployment on the local target.
    pub fn container(&self, service: &str, deployment_id: &str, index: u32) -> String {
        format!("{}-{service}-{deployment_id}-{index}", self.app)
    }

    /// Docker container of a job's run on the local target.
    pub fn job_container(&self, job: &str, run_id: &str) -> String {
        format!("{}-{job}-{run_id}", self.app)
    }

    /// Local image name of a job built from source (the tag is the environment).
    pub fn local_job_image(&self, job: &str) -> String {
        format!("wharf/{}/job-{job}", self.app)
    }

    /// Docker network of an environment on the local target.
    pub fn network(&self) -> String {
        format!("wharf-{}-{}", self.app, self.env)
    }

    /// Local image name (the tag is the deployment id).
    pub fn local_image(&self, service: &str) -> String {
        format!("wharf/{}/{service}", self.app)
    }
}

/// Listener-rule priorities of a service with routing priority `p`: the base rule and the range
/// its deployments' rules (affinity, test header, canary) are allocated from.
pub fn rule_block(p: u32) -> (u32, std::ops::RangeInclusive<u32>) {
    let start = p * RULE_BLOCK;
    (start + RULE_BLOCK - 1, start..=start + RULE_BLOCK - 2)
}

/// A moment (ms since the epoch) as `YYYY-MM-DD HH:MM:SSZ`, for people.
pub fn utc(ms: i64) -> String {
    let (y, mo, d, h, mi, s) = civil(ms.div_euclid(1000));
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}Z")
}

/// A moment written as RFC 3339 (`2026-12-02T21:40:01.123Z`, `2026-12-02T22:40+01:00`,
/// seconds and fraction optional) or a date alone (midnight UTC), in ms since the epoch.
pub fn parse_utc(s: &str) -> Option<i64> {
    let s = s.trim();
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let t = s.get(r)?;
        t.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if s.get(4..5)? != "-"
        || s.get(7..8)? != "-"
        || !(1..=12).contains(&m)
        || !(1..=31).contains(&d)
    {
        return None;
    }
    let day = crate::schedule::days_from_civil(i64::from(y), m, d);
    if s.len() == 10 {
        return Some(day * 86_400_000);
    }
    if !matches!(s.get(10..11)?, "T" | "t" | " ") || s.get(13..14)? != ":" {
        return None;
    }
    let (h, mi) = (num(11..13)?, num(14..16)?);
    let mut rest = &s[16..];
    let mut ms = 0i64;
    if let Some(r) = rest.strip_prefix(':') {
        let sec: u32 = r.get(..2)?.parse().ok()?;
        ms += i64::from(sec) * 1000;
        rest = &r[2..];
        if let Some(r) = rest.strip_prefix('.') {
            let digits = r.bytes().take_while(u8::is_ascii_digit).count();
            let frac = &r[..digits];
            let first3: String = frac.chars().chain("000".chars()).take(3).collect();
            ms += first3.parse::<i64>().ok()?;
            rest = &r[digits..];
        }
    }
    let offset_min: i64 = match rest {
        "" | "Z" | "z" => 0,
        _ => {
            let sign = match rest.get(..1)? {
                "+" => 1,
                "-" => -1,
                _ => return None,
            };
            let (oh, om) = rest[1..].split_once(':')?;
            sign * (oh.parse::<i64>().ok()? * 60 + om.parse::<i64>().ok()?)
        }
    };
    if h > 23 || mi > 59 {
        return None;
    }
    Some(day * 86_400_000 + i64::from(h * 3600 + mi * 60) * 1000 + ms - offset_min * 60_000)
}

/// Year, month, day, hour, minute, second of a Unix time (UTC), proleptic Gregorian.
fn civil(t: i64) -> (i64, u32, u32, u32, u32, u32) {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400) as u32;
    // Howard Hinnant's days-from-civil inverse.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d, secs / 3600, secs % 3600 / 60, secs % 60)
}

/// A human list of names, for messages.
pub fn join(names: &[String]) -> String {
    let mut out = String::new();
    for (i, n) in names.iter().enumerate() {
        if i > 0 {
            out.push_str(if i + 1 == names.len() { " and " } else { ", " });
        }
        let _ = write!(out, "`{n}`");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moments_read_as_rfc3339_and_print_back() {
        let t = parse_utc("2026-12-02T21:40:01.123456789Z").unwrap();
        assert_eq!(utc(t), "2026-12-02 21:40:01Z");
        assert_eq!(t % 1000, 123);
        assert_eq!(parse_utc("2026-12-02T22:40:01+01:00").unwrap(), t - 123);
        assert_eq!(parse_utc("2026-12-02T21:40Z").unwrap(), t - 1123);
        assert_eq!(parse_utc("2026-12-02").unwrap() % 86_400_000, 0);
        for bad in [
            "yesterday",
            "2026-13-01",
            "2026-12-02T25:00Z",
            "2026-12-02X10:00",
            "10m",
        ] {
            assert_eq!(parse_utc(bad), None, "{bad}");
        }
    }

    #[test]
    fn deployment_id_matches_seed_002() {
        // 2025-10-27T12:21:12Z
        let n = Names::new("pulse", "test");
        assert_eq!(n.deployment_id(1_761_567_672), "test-20251027-122112Z");
        assert_eq!(n.deployment_id(0), "test-19700101-000000Z");
        assert_eq!(n.deployment_id(951_782_400), "test-20000229-000000Z");
    }

    #[test]
    fn target_group_length_is_predicted() {
        let n = Names::new("pulse", "test");
        let id = n.deployment_id(1_761_567_672);
        assert_eq!(n.target_group("web", &id).len(), n.target_group_len("web"));
    }

    #[test]
    fn rule_blocks_do_not_overlap() {
        let (base1, r1) = rule_block(1);
        let (_, r2) = rule_block(2);
        assert_eq!(base1, 199);
        assert!(r1.end() < &base1 && &base1 < r2.start());
    }
}
