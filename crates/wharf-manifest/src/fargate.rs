//! The task sizes Fargate offers (Linux): which memory values go with each CPU value.

/// Memory values (MiB) allowed with `cpu` units, or `None` if Fargate has no such CPU size.
pub fn memory_options(cpu: u32) -> Option<Vec<u32>> {
    let gib = |from: u32, to: u32, step: u32| {
        (from..=to)
            .step_by(step as usize)
            .map(|g| g * 1024)
            .collect::<Vec<_>>()
    };
    Some(match cpu {
        256 => vec![512, 1024, 2048],
        512 => gib(1, 4, 1),
        1024 => gib(2, 8, 1),
        2048 => gib(4, 16, 1),
        4096 => gib(8, 30, 1),
        8192 => gib(16, 60, 4),
        16384 => gib(32, 120, 8),
        _ => return None,
    })
}

/// The CPU values Fargate offers.
pub const CPU_OPTIONS: [u32; 7] = [256, 512, 1024, 2048, 4096, 8192, 16384];

/// `Ok(())` if the pair is valid, else a sentence saying what would be.
pub fn check(cpu: u32, memory: u32) -> Result<(), String> {
    let Some(options) = memory_options(cpu) else {
        return Err(format!(
            "Fargate has no cpu size {cpu}; use one of {}",
            CPU_OPTIONS.map(|c| c.to_string()).join(", ")
        ));
    };
    if options.contains(&memory) {
        return Ok(());
    }
    let fits: Vec<String> = CPU_OPTIONS
        .iter()
        .filter(|c| memory_options(**c).is_some_and(|m| m.contains(&memory)))
        .map(|c| c.to_string())
        .collect();
    let first = options.first().copied().unwrap_or_default();
    let last = options.last().copied().unwrap_or_default();
    let mut msg = format!(
        "with cpu = {cpu}, memory must be one of {first}–{last} MiB in Fargate's steps ({})",
        list(&options)
    );
    if !fits.is_empty() {
        msg.push_str(&format!(
            "; memory = {memory} goes with cpu = {}",
            fits.join(" or ")
        ));
    }
    Err(msg)
}

fn list(options: &[u32]) -> String {
    if options.len() <= 4 {
        options
            .iter()
            .map(|m| m.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    } else {
        format!(
            "{}, {}, … {}",
            options[0],
            options[1],
            options[options.len() - 1]
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_pairs() {
        assert!(check(256, 512).is_ok());
        assert!(check(1024, 8192).is_ok());
        assert!(check(8192, 20480).is_ok());
        assert!(check(256, 4096).unwrap_err().contains("cpu = 512 or 1024"));
        assert!(check(300, 512).is_err());
        assert!(check(8192, 18432).is_err());
    }
}
