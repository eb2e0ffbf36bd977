//! Copilot's job schedules (`@daily`, `@every 1h30m`, five-field cron in UTC) as EventBridge
//! Scheduler expressions, which wharf's `schedule` takes: six fields, `?` in one of the two day
//! fields, days of the week 1-7 from Sunday (written here as names, which both agree on).

/// The wharf schedule, and why it differs from the original's spelling when it is not obvious.
pub fn convert(s: &str) -> Result<(String, Option<String>), String> {
    let s = s.trim();
    let fixed = |e: &str| Ok((e.to_owned(), None));
    match s {
        "@yearly" | "@annually" => return fixed("cron(0 0 1 1 ? *)"),
        "@monthly" => return fixed("cron(0 0 1 * ? *)"),
        "@weekly" => return fixed("cron(0 0 ? * SUN *)"),
        "@daily" | "@midnight" => return fixed("cron(0 0 * * ? *)"),
        "@hourly" => return fixed("cron(0 * * * ? *)"),
        _ => {}
    }
    if s.starts_with("cron(") || s.starts_with("rate(") {
        return fixed(s);
    }
    if let Some(d) = s.strip_prefix("@every ") {
        let minutes = minutes(d.trim())
            .ok_or_else(|| format!("`{d}` is not a duration of whole minutes (at least 1m)"))?;
        let expr = match minutes {
            1 => "rate(1 minute)".to_owned(),
            m if m % 1440 == 0 => plural(m / 1440, "day"),
            m if m % 60 == 0 => plural(m / 60, "hour"),
            m => plural(m, "minute"),
        };
        return fixed(&expr);
    }
    let f: Vec<&str> = s.split_whitespace().collect();
    let [min, hour, dom, mon, dow] = f.as_slice() else {
        return Err(format!("`{s}` is neither a five-field cron expression nor one of @hourly, @daily, @weekly, @monthly, @yearly, @every DURATION"));
    };
    let dow = if *dow == "*" {
        "*".to_owned()
    } else {
        day_names(dow)?
    };
    let (dom, dow) = match (*dom, dow.as_str()) {
        (_, "*") => (dom.to_string(), "?".to_owned()),
        ("*", _) => ("?".to_owned(), dow),
        _ => return Err("EventBridge cannot match a day of the month and a day of the week together: split it into two jobs".into()),
    };
    Ok((
        format!("cron({min} {hour} {dom} {mon} {dow} *)"),
        Some("EventBridge's six-field cron (UTC, as Copilot's): `?` for the unused day field, days of the week by name".into()),
    ))
}

fn plural(n: u64, unit: &str) -> String {
    if n == 1 {
        format!("rate(1 {unit})")
    } else {
        format!("rate({n} {unit}s)")
    }
}

/// Go's duration syntax (`1h30m`, `90m`, `2h`) in whole minutes.
fn minutes(d: &str) -> Option<u64> {
    let mut total_secs = 0u64;
    let mut num = String::new();
    for c in d.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let n: u64 = num.parse().ok()?;
        num.clear();
        total_secs += n * match c {
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return None,
        };
    }
    (num.is_empty() && total_secs >= 60 && total_secs.is_multiple_of(60)).then_some(total_secs / 60)
}

/// Standard cron's day-of-week numbers (0 or 7 = Sunday) as names.
fn day_names(field: &str) -> Result<String, String> {
    const NAMES: [&str; 8] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"];
    let mut out = String::new();
    let mut num = String::new();
    let flush = |num: &mut String, out: &mut String| -> Result<(), String> {
        if !num.is_empty() {
            let n: usize = num
                .parse()
                .map_err(|_| format!("`{num}` is not a day of the week"))?;
            out.push_str(
                NAMES
                    .get(n)
                    .ok_or_else(|| format!("`{n}` is not a day of the week (0-7)"))?,
            );
            num.clear();
        }
        Ok(())
    };
    for c in field.chars() {
        if c.is_ascii_digit() {
            num.push(c);
        } else {
            if c == '/' {
                return Err("a step in the day of the week is not something EventBridge takes: list the days".into());
            }
            flush(&mut num, &mut out)?;
            out.push(c.to_ascii_uppercase());
        }
    }
    flush(&mut num, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> String {
        convert(s).unwrap().0
    }

    #[test]
    fn copilot_schedules_become_eventbridge_expressions() {
        assert_eq!(ok("@daily"), "cron(0 0 * * ? *)");
        assert_eq!(ok("@weekly"), "cron(0 0 ? * SUN *)");
        assert_eq!(ok("@every 1h30m"), "rate(90 minutes)");
        assert_eq!(ok("@every 2h"), "rate(2 hours)");
        assert_eq!(ok("@every 1m"), "rate(1 minute)");
        assert_eq!(ok("@every 48h"), "rate(2 days)");
        assert_eq!(ok("0 9 * * 1-5"), "cron(0 9 ? * MON-FRI *)");
        assert_eq!(ok("30 2 1 * *"), "cron(30 2 1 * ? *)");
        assert_eq!(ok("0 0 * * 0,6"), "cron(0 0 ? * SUN,SAT *)");
        assert_eq!(ok("0 0 * * 7"), "cron(0 0 ? * SUN *)");
        assert!(convert("0 0 1 * 1").is_err());
        assert!(convert("@every 30s").is_err());
        assert!(convert("every day").is_err());
    }
}
