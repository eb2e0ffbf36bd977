//! Synthesis time for every stack of a 20-service environment (baseline, data with one store of
//! each kind, edge), rendered to JSON and YAML. Prints figures; asserts nothing.
//!
//!     cargo bench -p wharf-cfn --bench synth
#![allow(clippy::print_stdout)]

use std::path::Path;
use std::time::{Duration, Instant};

fn manifest(services: usize) -> String {
    let mut m = String::from(
        "[app]\nname = \"bench\"\n[environments.prod]\ntarget = \"aws\"\nregion = \"eu-central-1\"\naccount = \"123456789012\"\nazs = 3\n\
         egress = \"nat-per-az\"\ndomain = \"bench.example.com\"\nhosted_zone = \"Z0123456789ABCDEFGHIJ\"\nwaf = true\nflow_logs = true\n\
         access_logs = true\nlog_kms = true\nedge = true\nprod = true\nalarm_email = \"ops@example.com\"\n",
    );
    m.push_str(
        "[data.sessions]\ntype = \"dynamodb\"\npartition_key = { name = \"pk\" }\n[data.db]\ntype = \"postgres\"\n[data.cache]\ntype = \"redis\"\n\
         [data.files]\ntype = \"s3\"\n[data.config]\ntype = \"parameters\"\npath = \"/bench/config\"\nvalues = { a = 1, b = 2 }\n[data.key]\ntype = \"secret\"\n",
    );
    for i in 0..services {
        m.push_str(&format!(
            "[services.svc{i}]\nimage = \"x:1\"\nport = {}\nrouting = {{ path = \"/svc{i}/*\" }}\ndata = [\"sessions\", \"db\", \"cache\", \"files\", \"config\", \"key\"]\n\
             secrets = {{ TOKEN = \"ssm:/bench/svc{i}/token\" }}\n[services.svc{i}.deploy]\nstrategy = \"canary\"\n",
            8000 + i
        ));
    }
    m
}

fn main() {
    let text = manifest(20);
    let (m, problems) = wharf_manifest::parse_str(&text, "bench.toml", Path::new("."));
    let m = m.unwrap_or_else(|| panic!("{problems}"));
    let env = &m.environments["prod"];
    let run = || {
        let stacks = wharf_cfn::synthesize(&m, env).expect("aws");
        let bytes: usize = stacks
            .iter()
            .map(|s| s.template.to_json().len() + s.template.to_yaml().len())
            .sum();
        (
            stacks
                .iter()
                .map(|s| s.template.resources.len())
                .sum::<usize>(),
            bytes,
        )
    };
    let (resources, bytes) = run();
    for _ in 0..20 {
        run();
    }
    let mut times: Vec<Duration> = (0..200)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(run());
            t.elapsed()
        })
        .collect();
    times.sort();
    let mean = times.iter().sum::<Duration>() / times.len() as u32;
    let parse = {
        let t = Instant::now();
        for _ in 0..200 {
            std::hint::black_box(wharf_manifest::parse_str(
                &text,
                "bench.toml",
                Path::new("."),
            ));
        }
        t.elapsed() / 200
    };
    println!("synthesis of all stacks, 20 services ({resources} resources, {} KiB of JSON+YAML), 200 runs:", bytes / 1024);
    println!(
        "  mean {:.2} ms   p50 {:.2} ms   p99 {:.2} ms   min {:.2} ms",
        ms(mean),
        ms(times[100]),
        ms(times[197]),
        ms(times[0])
    );
    println!("manifest parse + validation: {:.2} ms", ms(parse));
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
