//! Details a rule pulls out of the text it matched: an exit code, a missing permission, the
//! HTTP status a health check got.

/// `exited with code 3`, `exit code 3`, `(exit code: 3)` → `exit code 3`.
pub fn exit_code(text: &str) -> Option<String> {
    let t = text.to_ascii_lowercase();
    let at = ["exited with code", "exit code:", "exit code"]
        .iter()
        .find_map(|w| t.find(w).map(|i| i + w.len()))?;
    let code: String = t[at..]
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '-')
        .collect();
    (!code.is_empty()).then(|| format!("exit code {code}"))
}

/// `is not authorized to perform: ecr:BatchGetImage on …` → `missing ecr:BatchGetImage`.
pub fn missing_action(text: &str) -> Option<String> {
    let at = text
        .find("to perform: ")
        .map(|i| i + "to perform: ".len())?;
    let action: String = text[at..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == ':' || *c == '-')
        .collect();
    action.contains(':').then(|| format!("missing {action}"))
}

/// `Health checks failed with these codes: [404]` → `got 404`.
pub fn http_codes(text: &str) -> Option<String> {
    let at = text.find("codes: [")? + "codes: [".len();
    let codes = text[at..].split(']').next()?;
    Some(format!("got {codes}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_as_aws_and_docker_word_them() {
        assert_eq!(
            exit_code("Essential container in task exited; web: exited with code 137").as_deref(),
            Some("exit code 137")
        );
        assert_eq!(
            exit_code("essential container exited with code 3").as_deref(),
            Some("exit code 3")
        );
        assert_eq!(exit_code("Task failed container health checks"), None);
        assert_eq!(
            missing_action("User: arn:aws:sts::1:assumed-role/x/y is not authorized to perform: ecr:BatchGetImage on resource: z").as_deref(),
            Some("missing ecr:BatchGetImage")
        );
        assert_eq!(missing_action("Access denied"), None);
        assert_eq!(
            http_codes(
                "Target.ResponseCodeMismatch (Health checks failed with these codes: [404])"
            )
            .as_deref(),
            Some("got 404")
        );
    }
}
