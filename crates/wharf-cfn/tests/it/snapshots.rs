//! Snapshots of rendered templates: any change to what wharf deploys shows up in review.

use crate::matrix::all_stacks;

#[test]
fn snapshot_of_the_hello_example() {
    for (name, s) in all_stacks()
        .into_iter()
        .filter(|(n, _)| n.starts_with("hello-example"))
    {
        insta::assert_snapshot!(name, s.template.to_yaml());
    }
}

#[test]
fn snapshot_of_the_full_matrix_case() {
    for (name, s) in all_stacks()
        .into_iter()
        .filter(|(n, _)| n.starts_with("nat-per-az-3az-prod-everything"))
    {
        insta::assert_snapshot!(name, s.template.to_json());
    }
}
