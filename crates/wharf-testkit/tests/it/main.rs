//! The harness's own tests: the moto fixture answers a real AWS SDK call, resets state, and the
//! command builder reports failures with everything needed.

mod cmd;
mod moto_fixture;
