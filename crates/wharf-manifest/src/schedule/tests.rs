//! Next runs of rate and cron expressions, checked against a calendar.

use super::*;

/// Milliseconds of `YYYY-MM-DDTHH:MM` (UTC).
fn at(s: &str) -> i64 {
    let n = |r: std::ops::Range<usize>| s[r].parse::<u32>().unwrap();
    let days = days_from_civil(i64::from(n(0..4)), n(5..7), n(8..10));
    (days * 1440 + i64::from(n(11..13) * 60 + n(14..16))) * 60_000
}

fn next(expr: &str, now: &str) -> Option<i64> {
    Schedule::parse(expr).unwrap().next_after(0, at(now))
}

#[test]
fn calendar_round_trips() {
    for days in [-1000, 0, 59, 60, 365, 10_957, 20_789, 80_000] {
        let (y, m, d) = civil_from_days(days);
        assert_eq!(days_from_civil(y, m, d), days);
    }
    assert_eq!(weekday(days_from_civil(2026, 12, 2)), 4, "a Wednesday");
}

#[test]
fn rates_count_from_when_the_schedule_was_made() {
    let s = Schedule::parse("rate(5 minutes)").unwrap();
    assert_eq!(s, Schedule::Rate { every_ms: 300_000 });
    assert_eq!(s.next_after(1_000, 1_000), Some(301_000));
    assert_eq!(s.next_after(1_000, 301_000), Some(601_000));
    assert_eq!(
        s.next_after(1_000, 0),
        Some(301_000),
        "not made yet: one interval after"
    );
    assert_eq!(
        Schedule::parse("rate(1 day)").unwrap(),
        Schedule::Rate {
            every_ms: 86_400_000
        }
    );
}

#[test]
fn cron_fields_select_the_next_minute() {
    let cases = [
        ("cron(0 12 * * ? *)", "2026-12-02T20:21", "2026-12-03T12:00"),
        ("cron(0 12 * * ? *)", "2026-12-02T11:59", "2026-12-02T12:00"),
        (
            "cron(0/15 * * * ? *)",
            "2026-12-02T10:07",
            "2026-12-02T10:15",
        ),
        (
            "cron(*/15 * * * ? *)",
            "2026-12-02T10:45",
            "2026-12-02T11:00",
        ),
        (
            "cron(5,35 8-9 * * ? *)",
            "2026-12-02T09:35",
            "2026-12-03T08:05",
        ),
        (
            "cron(0 9 ? * MON-FRI *)",
            "2026-12-04T10:00",
            "2026-12-07T09:00",
        ),
        (
            "cron(0 9 ? * 2-6 *)",
            "2026-12-04T10:00",
            "2026-12-07T09:00",
        ),
        (
            "cron(30 4 1 JAN ? *)",
            "2026-12-02T00:00",
            "2027-01-01T04:30",
        ),
        ("cron(0 0 29 2 ? *)", "2026-12-02T00:00", "2028-02-29T00:00"),
        ("cron(0 0 L * ? *)", "2027-02-01T00:00", "2027-02-28T00:00"),
        ("cron(0 0 L * ? *)", "2028-02-01T00:00", "2028-02-29T00:00"),
        // 2027-01-31 is a Sunday: the last weekday is Friday the 29th.
        ("cron(0 0 LW * ? *)", "2027-01-02T00:00", "2027-01-29T00:00"),
        // 2026-08-01 is a Saturday: the nearest weekday inside August is Monday the 3rd.
        ("cron(0 0 1W * ? *)", "2026-07-15T00:00", "2026-08-03T00:00"),
        (
            "cron(0 0 15W * ? *)",
            "2026-11-01T00:00",
            "2026-11-16T00:00",
        ),
        ("cron(0 0 ? * 6L *)", "2026-12-02T00:00", "2026-12-25T00:00"),
        ("cron(0 0 ? * L *)", "2026-12-02T00:00", "2026-12-26T00:00"),
        (
            "cron(0 10 ? * 3#2 *)",
            "2026-12-01T00:00",
            "2026-12-08T10:00",
        ),
        (
            "cron(0 10 ? * TUE#2 *)",
            "2026-12-08T10:00",
            "2027-01-12T10:00",
        ),
        (
            "cron(0 0 1 1 ? 2030-2031)",
            "2026-12-02T00:00",
            "2030-01-01T00:00",
        ),
    ];
    for (expr, now, want) in cases {
        assert_eq!(next(expr, now), Some(at(want)), "{expr} after {now}");
    }
}

#[test]
fn a_cron_of_past_years_never_runs_again() {
    assert_eq!(next("cron(0 0 1 1 ? 2020)", "2026-12-02T00:00"), None);
    assert_eq!(next("cron(0 0 31 2 ? *)", "2026-12-02T00:00"), None);
}

#[test]
fn bad_expressions_say_what_is_wrong() {
    let cases = [
        ("every day", "rate(...) or cron(...)"),
        ("rate(0 minutes)", "at least 1"),
        ("rate(1 minutes)", "minute/hour/day"),
        ("rate(5 weeks)", "minute/hour/day"),
        ("cron(0 12 * * *)", "5 fields"),
        ("cron(0 12 * * * *)", "must be `?`"),
        ("cron(0 12 ? * ? *)", "both be `?`"),
        ("cron(60 12 * * ? *)", "outside minutes"),
        ("cron(0 12 * FOO ? *)", "`FOO` is not a value of month"),
        ("cron(0 20-10 * * ? *)", "backwards"),
        ("cron(0/0 12 * * ? *)", "step"),
        ("cron(0 0 ? * 3#6 *)", "1-5"),
        ("cron(0 0 ? * 2-3L *)", "more than one day"),
        ("cron(0 0 32W * ? *)", "1-31"),
        ("cron(0 0 1 1 ? 1969)", "outside year"),
    ];
    for (expr, want) in cases {
        let err = Schedule::parse(expr).unwrap_err();
        assert!(err.contains(want), "{expr}: {err}");
    }
}
