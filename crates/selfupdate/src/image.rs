//! Image references as a Deployment writes them: `repo:tag`, `repo@sha256:…` or both.

use std::fmt;

/// A container image reference split into repository, tag and digest.
///
/// The repository keeps the registry host as written (`registry.example.com:5000/team/app`);
/// a `:` after the last `/` starts the tag, `@` starts the digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// Registry host (and port) plus path, without tag or digest.
    pub repository: String,
    /// The tag, if the reference names one.
    pub tag: Option<String>,
    /// The digest (`sha256:<hex>`), if the reference is pinned.
    pub digest: Option<String>,
}

impl ImageRef {
    /// Splits `image`; `None` when it has no repository part.
    pub fn parse(image: &str) -> Option<ImageRef> {
        let image = image.trim();
        let (rest, digest) = match image.split_once('@') {
            Some((rest, digest)) => (rest, Some(digest.to_string())),
            None => (image, None),
        };
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (repository, tag) = match rest[last_slash..].rfind(':') {
            Some(colon) => (
                &rest[..last_slash + colon],
                Some(rest[last_slash + colon + 1..].to_string()),
            ),
            None => (rest, None),
        };
        (!repository.is_empty()).then(|| ImageRef {
            repository: repository.to_string(),
            tag: tag.filter(|t| !t.is_empty()),
            digest: digest.filter(|d| !d.is_empty()),
        })
    }

    /// `<repository>@<digest>`: what an applied update writes, pinned by digest, never by tag.
    pub fn pinned(repository: &str, digest: &str) -> String {
        format!("{repository}@{digest}")
    }

    /// The registry host of the repository (`docker.io` when the first path element is not a
    /// host, as Docker resolves `nginx` or `library/nginx`).
    pub fn registry(&self) -> &str {
        registry_of(&self.repository)
    }
}

/// The registry host of a repository (`docker.io` when the first element is not a host).
pub fn registry_of(repository: &str) -> &str {
    match repository.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            first
        }
        _ => "docker.io",
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_digests_and_registry_ports_are_told_apart() {
        let cases = [
            ("repo:tag", "repo", Some("tag"), None),
            ("127.0.0.1:5000/a/b", "127.0.0.1:5000/a/b", None, None),
            (
                "127.0.0.1:5000/a/b:stable",
                "127.0.0.1:5000/a/b",
                Some("stable"),
                None,
            ),
            (
                "r.example.com/a@sha256:ab",
                "r.example.com/a",
                None,
                Some("sha256:ab"),
            ),
            (
                "r.example.com:443/a:1.0@sha256:ab",
                "r.example.com:443/a",
                Some("1.0"),
                Some("sha256:ab"),
            ),
        ];
        for (input, repo, tag, digest) in cases {
            let parsed = ImageRef::parse(input).expect(input);
            assert_eq!(parsed.repository, repo, "{input}");
            assert_eq!(parsed.tag.as_deref(), tag, "{input}");
            assert_eq!(parsed.digest.as_deref(), digest, "{input}");
            assert_eq!(parsed.to_string(), input);
        }
        assert_eq!(ImageRef::parse("@sha256:ab"), None);
    }

    #[test]
    fn the_registry_is_the_first_element_only_when_it_looks_like_a_host() {
        assert_eq!(registry_of("127.0.0.1:5000/x"), "127.0.0.1:5000");
        assert_eq!(registry_of("localhost/x"), "localhost");
        assert_eq!(registry_of("ghcr.io/o/x"), "ghcr.io");
        assert_eq!(registry_of("library/nginx"), "docker.io");
        assert_eq!(registry_of("nginx"), "docker.io");
    }
}
