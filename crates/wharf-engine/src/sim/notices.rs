//! The simulator's SNS topics: every name resolves (to an ARN in a made-up account), and each
//! notice published is kept, in order, for the tests to read.

use super::SimTarget;
use crate::notify::Notice;
use crate::target::TargetError;

/// The account the simulator's topics live in.
const ACCOUNT: &str = "000000000000";

impl SimTarget {
    /// The topic's ARN: itself when it is one, else the name in the simulator's account.
    pub(super) fn sim_topic(&self, topic: &str) -> Result<String, TargetError> {
        self.call(&format!("resolve topic {topic}"))?;
        Ok(if topic.starts_with("arn:") {
            topic.to_owned()
        } else {
            format!("arn:aws:sns:sim:{ACCOUNT}:{topic}")
        })
    }

    pub(super) fn sim_publish(&self, topic: &str, notice: &Notice) -> Result<(), TargetError> {
        self.call(&format!("publish {} to {topic}", notice.event))?;
        let mut st = self.st();
        st.log.push(format!("publish {} to {topic}", notice.event));
        st.published.push((topic.to_owned(), notice.clone()));
        Ok(())
    }

    /// The notices published so far, each with its topic's ARN.
    pub fn published(&self) -> Vec<(String, Notice)> {
        self.st().published.clone()
    }
}
