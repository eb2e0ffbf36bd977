//! The AWS target's integration tests, one binary: reading a failing deployment from replayed
//! answers, the image's registry and scan gate, listener rules, the DynamoDB store and the request metrics on moto.

mod common;
mod failures;
mod image;
mod metrics;
mod rules;
mod state;
mod wire;
