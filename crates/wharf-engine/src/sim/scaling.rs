//! The simulator's autoscaler: a test moves a deployment's task count as the runtime's
//! scaler would, and the target reports the count it keeps now.

use super::SimTarget;
use crate::target::TargetError;

impl SimTarget {
    /// Sets deployment `deployment` to `count` tasks, as an autoscaler does under load.
    pub fn autoscale(&self, deployment: &str, count: u32) {
        let mut st = self.st();
        if let Some(d) = st.deployments.get_mut(deployment) {
            d.count = count;
        }
        st.log.push(format!("autoscale {deployment} {count}"));
    }

    /// Tasks the deployment runs now; `None` when it runs none.
    pub(super) fn sim_count(&self, deployment: &str) -> Result<Option<u32>, TargetError> {
        self.call(&format!("count {deployment}"))?;
        let st = self.st();
        let d = st.deployments.get(deployment).filter(|d| !d.retired);
        Ok(d.map(|d| d.count).filter(|c| *c > 0))
    }
}
