//! wharf-diagnose's tests: the catalog's own checks, and diagnoses of deployments the real
//! engine failed on the simulator (each gate's reason recognised, the timeline recorded).

mod catalog;
mod sim;

use wharf_manifest::Service;

/// A two-task canary service with a smoke check, of `[services.web]`.
pub fn web() -> Service {
    web_with("")
}

/// The same with more `[services.web.deploy]` lines.
pub fn web_with(deploy: &str) -> Service {
    let src = format!(
        "[app]\nname = \"pulse\"\n[environments.local]\ntarget = \"local\"\n[services.web]\nimage = \"nginx:1\"\nport = 8080\ncount = 2\n\
         [services.web.deploy]\nstrategy = \"canary\"\n{deploy}\n[[services.web.deploy.smoke]]\npath = \"/ping\"\n"
    );
    let (m, problems) = wharf_manifest::parse_str(&src, "wharf.toml", std::path::Path::new("."));
    m.unwrap_or_else(|| panic!("{problems:?}")).services["web"].clone()
}
