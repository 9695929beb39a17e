//! The kubeconfig that points kubectl and kube-rs at an emulator.

/// A kubeconfig YAML for `url`: cluster, user and context named `emulator`, namespace `default`.
pub fn render(url: &str) -> String {
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: emulator
  cluster:
    server: {url}
users:
- name: emulator
  user: {{}}
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
        let k = super::render("http://127.0.0.1:1234");
        let v = yaml_json::parse_one(&k).unwrap();
        assert_eq!(
            v["clusters"][0]["cluster"]["server"],
            "http://127.0.0.1:1234"
        );
        assert_eq!(v["current-context"], "emulator");
        assert_eq!(v["contexts"][0]["context"]["namespace"], "default");
    }
}
