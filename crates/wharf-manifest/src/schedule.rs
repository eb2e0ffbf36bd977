//! EventBridge Scheduler's recurrence expressions, parsed once: `rate(N unit)` and the
//! six-field `cron(minutes hours day-of-month month day-of-week year)`, evaluated in UTC (the
//! Scheduler's default time zone), with the `L`, `W` and `#` wildcards. [`Schedule::next_after`]
//! answers when the next run is: what `wharf status` shows and what the local daemon runs
//! scheduled jobs on.

/// A parsed schedule expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Schedule {
    /// Every `every_ms`, counted from when the schedule was made.
    Rate {
        every_ms: i64,
    },
    Cron(Cron),
}

/// A cron expression's fields as sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    minutes: u64,
    hours: u32,
    months: u16,
    dom: DayOfMonth,
    dow: DayOfWeek,
    /// Years 1970..=2199 as bits; None for every year.
    years: Option<Vec<bool>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum DayOfMonth {
    /// `?`: the day of the week decides.
    Unset,
    /// Days 1..=31 as bits (`*` sets them all).
    Days(u32),
    /// `L`: the month's last day.
    Last,
    /// `LW`: the month's last weekday.
    LastWeekday,
    /// `nW`: the weekday nearest day n, within the month.
    NearestWeekday(u32),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum DayOfWeek {
    Unset,
    /// Days 1 (Sunday) ..= 7 (Saturday) as bits.
    Days(u8),
    /// `nL`: the month's last such day (`L` alone: its last Saturday).
    Last(u32),
    /// `d#n`: the month's n-th such day.
    Nth(u32, u32),
}

const FIRST_YEAR: i64 = 1970;
const LAST_YEAR: i64 = 2199;
const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

impl Schedule {
    /// Parses `rate(…)` or `cron(…)`; Err says what is wrong, in the Scheduler's terms.
    pub fn parse(s: &str) -> Result<Schedule, String> {
        if let Some(inner) = s.strip_prefix("rate(").and_then(|r| r.strip_suffix(')')) {
            return rate(inner);
        }
        if let Some(inner) = s.strip_prefix("cron(").and_then(|r| r.strip_suffix(')')) {
            return Cron::parse(inner).map(Schedule::Cron);
        }
        Err("it must be rate(...) or cron(...)".into())
    }

    /// The first run strictly after `now_ms`; a rate counts from `since_ms` (when the schedule
    /// was made). None when the expression never fires again (a cron of past years).
    pub fn next_after(&self, since_ms: i64, now_ms: i64) -> Option<i64> {
        match self {
            Schedule::Rate { every_ms } => {
                let k = if now_ms < since_ms {
                    1
                } else {
                    (now_ms - since_ms) / every_ms + 1
                };
                Some(since_ms + k * every_ms)
            }
            Schedule::Cron(c) => c.next_after(now_ms),
        }
    }
}

fn rate(inner: &str) -> Result<Schedule, String> {
    let mut parts = inner.split_whitespace();
    let n: i64 = parts
        .next()
        .and_then(|n| n.parse().ok())
        .ok_or("rate needs a number")?;
    let unit = parts.next().ok_or("rate needs a unit")?;
    if parts.next().is_some() {
        return Err("rate takes a number and a unit".into());
    }
    if n <= 0 {
        return Err("the rate must be at least 1".into());
    }
    let (singular, plural) = (["minute", "hour", "day"], ["minutes", "hours", "days"]);
    if (n == 1 && !singular.contains(&unit)) || (n > 1 && !plural.contains(&unit)) {
        return Err(format!(
            "`{n} {unit}`: use minute/hour/day for 1 and minutes/hours/days above"
        ));
    }
    let unit_ms = match unit.trim_end_matches('s') {
        "minute" => 60_000,
        "hour" => 3_600_000,
        _ => 86_400_000,
    };
    let every_ms = n
        .checked_mul(unit_ms)
        .filter(|ms| *ms <= 100 * 365 * 86_400_000)
        .ok_or("the rate is longer than a century")?;
    Ok(Schedule::Rate { every_ms })
}

impl Cron {
    fn parse(inner: &str) -> Result<Cron, String> {
        let f: Vec<&str> = inner.split_whitespace().collect();
        if f.len() != 6 {
            return Err(format!("cron has {} fields; EventBridge needs 6 (minutes hours day-of-month month day-of-week year)", f.len()));
        }
        let minutes = bits(f[0], 0, 59, &[], "minutes")?;
        let hours = bits(f[1], 0, 23, &[], "hours")? as u32;
        let months = (bits(f[3], 1, 12, &MONTHS, "month")? >> 1) as u16;
        let dom = day_of_month(f[2])?;
        let dow = day_of_week(f[4])?;
        match (&dom, &dow) {
            (DayOfMonth::Unset, DayOfWeek::Unset) => {
                return Err("day-of-month and day-of-week cannot both be `?`".into())
            }
            (DayOfMonth::Unset, _) | (_, DayOfWeek::Unset) => {}
            _ => return Err(
                "one of day-of-month and day-of-week must be `?` (EventBridge does not take both)"
                    .into(),
            ),
        }
        let years = if f[5] == "*" {
            None
        } else {
            let mut v = vec![false; (LAST_YEAR - FIRST_YEAR + 1) as usize];
            for part in f[5].split(',') {
                for y in range(part, FIRST_YEAR as u32, LAST_YEAR as u32, &[], "year")? {
                    v[(i64::from(y) - FIRST_YEAR) as usize] = true;
                }
            }
            Some(v)
        };
        Ok(Cron {
            minutes,
            hours,
            months,
            dom,
            dow,
            years,
        })
    }

    fn year_ok(&self, y: i64) -> bool {
        self.years
            .as_ref()
            .is_none_or(|v| v[(y - FIRST_YEAR) as usize])
    }

    fn day_ok(&self, y: i64, m: u32, d: u32) -> bool {
        let dim = days_in_month(y, m);
        let wd = weekday(days_from_civil(y, m, d));
        let dom = match self.dom {
            DayOfMonth::Unset => true,
            DayOfMonth::Days(b) => b & (1 << d) != 0,
            DayOfMonth::Last => d == dim,
            DayOfMonth::LastWeekday => d == nearest_weekday(y, m, dim),
            DayOfMonth::NearestWeekday(n) => n <= dim && d == nearest_weekday(y, m, n),
        };
        let dow = match self.dow {
            DayOfWeek::Unset => true,
            DayOfWeek::Days(b) => b & (1 << wd) != 0,
            DayOfWeek::Last(w) => wd == w && d + 7 > dim,
            DayOfWeek::Nth(w, n) => wd == w && (d - 1) / 7 + 1 == n,
        };
        dom && dow
    }

    /// The first matching minute strictly after `now_ms`.
    fn next_after(&self, now_ms: i64) -> Option<i64> {
        let start = now_ms.div_euclid(60_000) + 1; // minutes since the epoch
        let (mut day, first_minute) = (start.div_euclid(1440), start.rem_euclid(1440) as u32);
        let mut from = first_minute;
        loop {
            let (y, m, d) = civil_from_days(day);
            if y > LAST_YEAR {
                return None;
            }
            if y >= FIRST_YEAR
                && self.year_ok(y)
                && self.months & (1 << (m - 1)) != 0
                && self.day_ok(y, m, d)
            {
                for minute_of_day in from..1440 {
                    let (h, mi) = (minute_of_day / 60, minute_of_day % 60);
                    if self.hours & (1 << h) != 0 && self.minutes & (1 << mi) != 0 {
                        return Some((day * 1440 + i64::from(minute_of_day)) * 60_000);
                    }
                }
            }
            day += 1;
            from = 0;
        }
    }
}

/// A field of numbers (or names) as bits: `*`, `n`, `a-b`, `a/step`, `a-b/step`, `*/step`,
/// comma-separated.
fn bits(field: &str, lo: u32, hi: u32, names: &[&str], what: &str) -> Result<u64, String> {
    let mut out = 0u64;
    for part in field.split(',') {
        for v in range(part, lo, hi, names, what)? {
            out |= 1 << v;
        }
    }
    Ok(out)
}

/// The values one comma-separated part names.
fn range(
    part: &str,
    lo: u32,
    hi: u32,
    names: &[&str],
    what: &str,
) -> Result<impl Iterator<Item = u32>, String> {
    let (span, step) = match part.split_once('/') {
        Some((span, step)) => {
            let step: u32 =
                step.parse().ok().filter(|s| *s > 0).ok_or_else(|| {
                    format!("`{part}` in {what}: the step must be a positive number")
                })?;
            (span, step)
        }
        None => (part, 1),
    };
    let value = |s: &str| -> Result<u32, String> {
        let v = names
            .iter()
            .position(|n| n.eq_ignore_ascii_case(s))
            .map(|i| i as u32 + lo)
            .or_else(|| s.parse().ok())
            .ok_or_else(|| format!("`{s}` is not a value of {what}"))?;
        if (lo..=hi).contains(&v) {
            Ok(v)
        } else {
            Err(format!("`{v}` is outside {what}'s {lo}-{hi}"))
        }
    };
    let (a, b) = match span {
        "*" => (lo, hi),
        _ => match span.split_once('-') {
            Some((a, b)) => (value(a)?, value(b)?),
            // `5/15` runs from 5 to the end of the range.
            None if part.contains('/') => (value(span)?, hi),
            None => {
                let v = value(span)?;
                (v, v)
            }
        },
    };
    if a > b {
        return Err(format!("`{span}` in {what}: the range runs backwards"));
    }
    Ok((a..=b).step_by(step as usize))
}

fn day_of_month(f: &str) -> Result<DayOfMonth, String> {
    Ok(match f {
        "?" => DayOfMonth::Unset,
        "L" => DayOfMonth::Last,
        "LW" => DayOfMonth::LastWeekday,
        _ => match f.strip_suffix('W') {
            Some(n) => DayOfMonth::NearestWeekday(
                n.parse()
                    .ok()
                    .filter(|n| (1..=31).contains(n))
                    .ok_or_else(|| format!("`{f}` in day-of-month: W follows a day 1-31"))?,
            ),
            None => DayOfMonth::Days(bits(f, 1, 31, &[], "day-of-month")? as u32),
        },
    })
}

fn day_of_week(f: &str) -> Result<DayOfWeek, String> {
    let day = |s: &str| -> Result<u32, String> {
        let b = bits(s, 1, 7, &DAYS, "day-of-week")?;
        if b.count_ones() == 1 {
            Ok(b.trailing_zeros())
        } else {
            Err(format!("`{s}` in day-of-week names more than one day"))
        }
    };
    Ok(match f {
        "?" => DayOfWeek::Unset,
        "L" => DayOfWeek::Last(7),
        _ => {
            if let Some(d) = f.strip_suffix('L') {
                DayOfWeek::Last(day(d)?)
            } else if let Some((d, n)) = f.split_once('#') {
                let n = n
                    .parse()
                    .ok()
                    .filter(|n| (1..=5).contains(n))
                    .ok_or_else(|| format!("`{f}` in day-of-week: # is followed by 1-5"))?;
                DayOfWeek::Nth(day(d)?, n)
            } else {
                DayOfWeek::Days(bits(f, 1, 7, &DAYS, "day-of-week")? as u8)
            }
        }
    })
}

/// The weekday nearest day `n` of the month, without leaving the month.
fn nearest_weekday(y: i64, m: u32, n: u32) -> u32 {
    let dim = days_in_month(y, m);
    match weekday(days_from_civil(y, m, n)) {
        7 if n == 1 => n + 2,
        7 => n - 1,
        1 if n == dim => n - 2,
        1 => n + 1,
        _ => n,
    }
}

/// 1 (Sunday) ..= 7 (Saturday), as cron numbers them; day 0 (1970-01-01) was a Thursday.
fn weekday(days: i64) -> u32 {
    ((days + 4).rem_euclid(7) + 1) as u32
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a date (Howard Hinnant's algorithm).
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests;
