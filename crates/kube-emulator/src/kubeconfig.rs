//! The kubeconfig that points kubectl and kube-rs at an emulator.

/// A kubeconfig YAML for `url`: cluster, user and context named `emulator`, namespace
/// `default`; the user presents `token` when there is one.
pub fn render(url: &str, token: Option<&str>) -> String {
    let user = match token {
        Some(t) => format!("{{token: {t}}}"),
        None => "{}".to_string(),
    };
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: emulator
  cluster:
    server: {url}
users:
- name: emulator
  user: {user}
contexts:
- name: emulator
  context:
    cluster: emulator
    user: emulator
    namespace: default
current-context: emulator
preferences: {{}}
"
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn kubeconfig_should_name_the_server_and_default_namespace() {
        let k = super::render("http://127.0.0.1:1234", None);
        let v = yaml_json::parse_one(&k).unwrap();
        assert_eq!(
            v["clusters"][0]["cluster"]["server"],
            "http://127.0.0.1:1234"
        );
        assert_eq!(v["current-context"], "emulator");
        assert_eq!(v["contexts"][0]["context"]["namespace"], "default");
        let k = super::render("http://127.0.0.1:1234", Some("t0ken"));
        let v = yaml_json::parse_one(&k).unwrap();
        assert_eq!(v["users"][0]["user"]["token"], "t0ken");
    }
}
