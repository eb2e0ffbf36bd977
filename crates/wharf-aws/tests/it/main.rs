//! The AWS target's integration tests, one binary: reading a failing deployment from replayed
//! answers, the image's registry and scan gate, listener rules, the DynamoDB store on moto.

mod common;
mod failures;
mod image;
mod rules;
mod state;
